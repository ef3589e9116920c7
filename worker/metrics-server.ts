import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { collectDefaultMetrics } from 'prom-client';
import { Runtime, type RuntimeOptions } from '@temporalio/worker';
import { registry } from '../activities/metrics.js';
import { freePort } from './ports.js';

export interface MetricsServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

/**
 * Installs the Temporal runtime with its Prometheus exporter on a loopback port of its own, and serves `/metrics`
 * on `port` with ours followed by the SDK's: one scrape target per worker. It has to run before any connection or
 * worker exists, since those instantiate the runtime without metrics.
 */
export async function installRuntimeWithMetrics(
  port: number,
  options: RuntimeOptions = {},
  host = '0.0.0.0',
): Promise<MetricsServer> {
  const sdkAddress = `127.0.0.1:${await freePort()}`;
  Runtime.install({
    ...options,
    telemetryOptions: { ...options.telemetryOptions, metrics: { prometheus: { bindAddress: sdkAddress } } },
  });
  collectDefaultMetrics({ register: registry });

  const sdkScrape = async (): Promise<string> => {
    try {
      const res = await fetch(`http://${sdkAddress}/metrics`, { signal: AbortSignal.timeout(5000) });
      return res.ok ? await res.text() : `# Temporal SDK metrics unavailable: HTTP ${res.status}\n`;
    } catch (err) {
      // Our metrics are still worth a scrape when the SDK's exporter is down (the runtime shut down, say).
      return `# Temporal SDK metrics unavailable: ${err instanceof Error ? err.message : String(err)}\n`;
    }
  };

  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || req.url?.split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('see /metrics\n');
      return;
    }
    Promise.all([registry.metrics(), sdkScrape()]).then(
      ([ours, sdk]) => res.writeHead(200, { 'content-type': registry.contentType }).end(`${ours}\n${sdk}`),
      (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${String(err)}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  // The worker keeps the process alive while it runs; the endpoint alone must not keep it alive after.
  server.unref();
  const bound = (server.address() as AddressInfo).port;
  return {
    url: `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${bound}/metrics`,
    port: bound,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * The small HTTP endpoint every datastate process serves: /metrics (Prometheus), /healthz, /readyz.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export type Route = (req: IncomingMessage, res: ServerResponse) => Promise<boolean> | boolean;

export interface HealthServerOptions {
  port: number;
  host?: string;
  registry: Registry;
  /** Readiness: null when ready, else the reason it is not. */
  notReadyReason: () => string | null;
  /** Further routes, tried first; a route returns true when it answered. */
  routes?: Route[];
}

export interface HealthServer {
  server: Server;
  port: number;
  close(): Promise<void>;
}

export async function startHealthServer(o: HealthServerOptions): Promise<HealthServer> {
  const server = createServer(async (req, res) => {
    try {
      for (const route of o.routes ?? []) if (await route(req, res)) return;
      const path = (req.url ?? '/').split('?')[0];
      if (req.method === 'GET' && path === '/metrics') {
        res.writeHead(200, { 'content-type': o.registry.contentType });
        res.end(await o.registry.metrics());
      } else if (req.method === 'GET' && path === '/healthz') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('ok\n');
      } else if (req.method === 'GET' && path === '/readyz') {
        const reason = o.notReadyReason();
        res.writeHead(reason === null ? 200 : 503, { 'content-type': 'text/plain' });
        res.end(reason === null ? 'ok\n' : `not ready: ${reason}\n`);
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('not found\n');
      }
    } catch (e) {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`error: ${(e as Error).message}\n`);
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host ?? '0.0.0.0', () => resolve());
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

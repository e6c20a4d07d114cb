/**
 * A small JSON-over-HTTP client for the worker API (node:http, no extra dependency). Host names under
 * `.localhost` resolve to the loopback address, as RFC 6761 §6.3 asks of resolvers (browsers do the same),
 * whatever the system resolver says; every other name goes through the system resolver.
 */
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { request } from 'node:http';

type LookupCallback = (
  err: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

export function rfc6761Lookup(hostname: string, options: LookupOptions, callback: LookupCallback): void {
  if (hostname === 'localhost' || hostname.endsWith('.localhost')) {
    if (options.all) callback(null, [{ address: '127.0.0.1', family: 4 }]);
    else callback(null, '127.0.0.1', 4);
    return;
  }
  dnsLookup(hostname, options, callback as never);
}

export interface JsonResponse {
  status: number;
  body: unknown;
}

/** POSTs JSON and reads a JSON answer; rejects on network errors, timeouts and aborts. */
export function postJson(
  url: string,
  payload: unknown,
  options: { token: string; signal?: AbortSignal; timeoutMs: number },
): Promise<JsonResponse> {
  return new Promise((resolve, reject) => {
    const data = Buffer.from(JSON.stringify(payload));
    const req = request(
      url,
      {
        method: 'POST',
        lookup: rfc6761Lookup as never,
        headers: {
          'content-type': 'application/json',
          'content-length': data.length,
          authorization: `Bearer ${options.token}`,
        },
        signal: options.signal,
        timeout: options.timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          let body: unknown;
          try {
            body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {
            body = { error: Buffer.concat(chunks).toString('utf8').slice(0, 200) };
          }
          resolve({ status: res.statusCode ?? 0, body });
        });
      },
    );
    req.on('timeout', () =>
      req.destroy(new Error(`timed out after ${Math.round(options.timeoutMs / 1000)} s`)),
    );
    req.on('error', reject);
    req.end(data);
  });
}

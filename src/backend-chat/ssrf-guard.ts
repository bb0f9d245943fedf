import { lookup as dnsLookup } from 'node:dns/promises';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import { Readable } from 'node:stream';
import ipaddr from 'ipaddr.js';

/**
 * Server-side request forgery guard for URLs a *client* chose (`backend.base_url` with
 * ALLOW_FRONTEND_BACKEND_AUTH=true). The operator's own URLs (BACKEND_BASE_URL, LLM_BASE_URL) are
 * trusted and never pass through here.
 *
 * A URL is allowed when it is http(s), carries no credentials, its host matches the allow-list (if
 * one is set), and every address its name resolves to is public unicast: loopback, private (RFC
 * 1918, ULA), link-local (so cloud metadata at 169.254.169.254 / fd00:ec2::254), carrier-grade NAT,
 * multicast, reserved, unspecified and IPv6 transition forms that embed IPv4 are refused. Address
 * spellings (decimal `2130706433`, octal `0177.0.0.1`, `127.1`, IPv4-mapped IPv6) are normalised by
 * the URL parser before the check. `pinnedFetch` connects to the address it checked (the check runs
 * inside the socket's DNS lookup), so a name that re-resolves to a private address (DNS rebinding)
 * cannot slip through, and it never follows redirects.
 */
export class UrlRefused extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'UrlRefused';
  }
}

export interface UrlPolicy {
  /** Host patterns (`llm.example.com`, `*.example.com`); empty = any public host. */
  allowHosts?: readonly string[];
  /** Address ranges the operator permits although not public (e.g. `10.20.0.0/16` for an internal LLM gateway). */
  allowCidrs?: readonly string[];
  /** Name resolution (tests inject one); default: the system resolver, all addresses. */
  resolve?: (hostname: string) => Promise<Array<{ address: string; family: number }>>;
}

const systemResolve = (hostname: string) => dnsLookup(hostname, { all: true, verbatim: true });

/** Why an address is not acceptable, or undefined when it is public unicast (or in an allowed range). */
export function addressProblem(address: string, allowCidrs: readonly string[] = []): string | undefined {
  let parsed: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    parsed = ipaddr.parse(address);
  } catch {
    return 'not an IP address';
  }
  if (parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress()) parsed = (parsed as ipaddr.IPv6).toIPv4Address();
  for (const cidr of allowCidrs) {
    try {
      const range = ipaddr.parseCIDR(cidr);
      if (range[0].kind() === parsed.kind() && parsed.match(range)) return undefined;
    } catch {
      // validated at boot
    }
  }
  const range = parsed.range();
  return range === 'unicast' ? undefined : `${range} address`;
}

function hostAllowed(hostname: string, allowHosts: readonly string[]): boolean {
  if (allowHosts.length === 0) return true;
  const host = hostname.toLowerCase().replace(/\.$/, '');
  return allowHosts.some((pattern) => (pattern.startsWith('*.') ? host.endsWith(pattern.slice(1)) && host.length > pattern.length - 1 : host === pattern));
}

/** Parses and checks a client URL, resolving its host; throws UrlRefused with a reason safe to show the client. */
export async function assertClientUrl(value: string, policy: UrlPolicy = {}): Promise<URL> {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UrlRefused('it is not an absolute URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UrlRefused(`scheme ${url.protocol.slice(0, 20)} is not http or https`);
  if (url.username || url.password) throw new UrlRefused('it carries credentials; send the key in backend.api_key');
  const hostname = url.hostname.replace(/^\[|\]$/g, '');
  if (!hostAllowed(hostname, policy.allowHosts ?? [])) throw new UrlRefused('its host is not in CLIENT_BASE_URL_ALLOWLIST');
  await resolveChecked(hostname, policy);
  return url;
}

async function resolveChecked(hostname: string, policy: UrlPolicy): Promise<Array<{ address: string; family: number }>> {
  let addresses: Array<{ address: string; family: number }>;
  if (ipaddr.isValid(hostname)) {
    addresses = [{ address: hostname, family: hostname.includes(':') ? 6 : 4 }];
  } else {
    try {
      addresses = await (policy.resolve ?? systemResolve)(hostname);
    } catch {
      throw new UrlRefused('its host name does not resolve');
    }
  }
  if (addresses.length === 0) throw new UrlRefused('its host name does not resolve');
  for (const { address } of addresses) {
    const problem = addressProblem(address, policy.allowCidrs);
    if (problem) throw new UrlRefused(`it points to a ${problem}, which clients may not reach through this server`);
  }
  return addresses;
}

/** A `lookup` for http(s).request that resolves, checks every address and connects to a checked one. */
export function guardedLookup(policy: UrlPolicy): LookupFunction {
  return ((hostname: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
    resolveChecked(hostname, policy).then(
      (addresses) => {
        const first = addresses[0]!;
        if (options.all) callback(null, addresses);
        else callback(null, first.address, first.family);
      },
      (error: unknown) => callback(error),
    );
  }) as unknown as LookupFunction;
}

export type FetchLike = (url: string, init: { method?: string; headers?: Record<string, string>; body?: string; signal?: AbortSignal }) => Promise<Response>;

/**
 * A minimal fetch over node:http(s) whose connections only go to checked addresses (see the class
 * comment) and which refuses redirects. Enough for JSON APIs; the body is streamed as received.
 */
export function pinnedFetch(policy: UrlPolicy): FetchLike {
  const lookup = guardedLookup(policy);
  return async (value, init) => {
    const url = new URL(value);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UrlRefused('scheme is not http or https');
    const hostname = url.hostname.replace(/^\[|\]$/g, '');
    if (!hostAllowed(hostname, policy.allowHosts ?? [])) throw new UrlRefused('its host is not in CLIENT_BASE_URL_ALLOWLIST');
    // IP literals never reach `lookup`: check them here.
    if (ipaddr.isValid(hostname)) await resolveChecked(hostname, policy);
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const response = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = send(url, { method: init.method ?? 'GET', headers: init.headers, lookup, signal: init.signal }, resolve);
      req.once('error', reject);
      req.end(init.body);
    });
    const status = response.statusCode ?? 502;
    if (status >= 300 && status < 400) {
      response.resume();
      throw new UrlRefused(`it answered with a redirect (HTTP ${status}); redirects are not followed for client URLs`);
    }
    const headers = new Headers();
    for (const [name, entry] of Object.entries(response.headers)) {
      if (entry !== undefined) headers.set(name, Array.isArray(entry) ? entry.join(', ') : entry);
    }
    const body = status === 204 || status === 304 ? null : (Readable.toWeb(response) as ReadableStream<Uint8Array>);
    return new Response(body, { status, headers });
  };
}

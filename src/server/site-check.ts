/**
 * Which web pages may drive the server through a visitor's browser. Without API keys the server
 * trusts any loopback peer, and a browser on this machine is one: a page from anywhere could open
 * a WebSocket (browsers do not apply CORS to WebSockets), post forms, or rebind its own DNS name
 * to 127.0.0.1 and read the answers as same-origin. So, for WebSocket upgrades and /v1/ routes:
 *
 * - Origin (sent by browsers on every WebSocket handshake and every non-GET request): when
 *   present it must be the server's own origin (same host and port as the request's Host) or in
 *   `auth.allowedOrigins`. This applies without keys, or with keys once allowedOrigins is set;
 *   with keys and no list any origin is served, since a page can only use a key or token it was
 *   given (nothing is sent automatically, as the loopback address is).
 * - Host, without keys only: DNS rebinding needs a DNS name of the attacker's, so the Host must be
 *   an IP address, `localhost` or `*.localhost` (any port), or in `auth.allowedHosts`. A request
 *   with no browser marks (no Origin, no Sec-Fetch-Site) may also name a host without a dot,
 *   which no public DNS serves (test tools send `Host: x`).
 *
 * Pure functions over header values; uws-server.ts reads the headers and answers 403.
 */
import { isIP } from "node:net";

export interface SitePolicy {
  readonly keysConfigured: boolean;
  /** Origins (scheme://host[:port]) served besides the server's own; "*" for any. */
  readonly allowedOrigins: readonly string[];
  /** Host names (no port) served without keys besides IP addresses and localhost; "*" for any. */
  readonly allowedHosts: readonly string[];
}

export interface SiteHeaders {
  readonly host: string;
  readonly origin: string;
  /** Sec-Fetch-Site: sent by current browsers on every request. */
  readonly fetchSite: string;
}

/** `scheme://host[:port]` normalized as browsers send it, or null for anything else (including "null"). */
export function normalizeOrigin(origin: string): string | null {
  try {
    const u = new URL(origin);
    return u.origin === "null" ? null : u.origin;
  } catch {
    return null;
  }
}

/** The host name of a Host header, lowercased, without port (IPv6 keeps its brackets), or null if it does not parse. */
function hostName(host: string): string | null {
  try {
    return new URL(`http://${host}`).hostname;
  } catch {
    return null;
  }
}

function sameOrigin(origin: string, host: string): boolean {
  try {
    const o = new URL(origin);
    // the Host carries no scheme: read it with the origin's, so that a default port is left out on both sides
    return o.origin !== "null" && o.host === new URL(`${o.protocol}//${host}`).host;
  } catch {
    return false;
  }
}

/** Names no attacker's DNS can answer for: IP literals and the localhost names browsers resolve themselves. */
function rebindingSafe(name: string): boolean {
  const bare = name.startsWith("[") && name.endsWith("]") ? name.slice(1, -1) : name;
  return isIP(bare) !== 0 || name === "localhost" || name.endsWith(".localhost");
}

/** Why the request must be refused (403), or null when it may go on to the key check. */
export function siteRefusal(h: SiteHeaders, p: SitePolicy): string | null {
  if (!p.keysConfigured) {
    const name = hostName(h.host) ?? h.host.toLowerCase();
    const browser = h.origin !== "" || h.fetchSite !== "";
    const listed = p.allowedHosts.includes("*") || p.allowedHosts.includes(name);
    if (!listed && !rebindingSafe(name) && (browser || name.includes("."))) {
      return `host '${name.slice(0, 100)}' is not served without API keys (use localhost or an IP address, or list it in auth.allowedHosts)`;
    }
  }
  if (h.origin !== "" && (!p.keysConfigured || p.allowedOrigins.length > 0) && !sameOrigin(h.origin, h.host)) {
    const o = normalizeOrigin(h.origin);
    if (!p.allowedOrigins.includes("*") && (o === null || !p.allowedOrigins.includes(o))) {
      return `origin '${h.origin.slice(0, 100)}' may not use this server (same origin only, or list it in auth.allowedOrigins)`;
    }
  }
  return null;
}

/** The media type of a Content-Type header, lowercased, without parameters. */
const mediaType = (contentType: string) => contentType.split(";")[0].trim().toLowerCase();

/** Bodies a page on any site may send without a CORS preflight (the browser asks the server first for all others). */
const SIMPLE_TYPES = new Set(["", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]);

/**
 * Why a body's Content-Type is refused (415), or null. Bodies must be of a type a browser sends
 * cross-site only after a preflight this server never answers, so that a page elsewhere cannot
 * post them even where Origin is missing: `application/json` for speech; for a voice upload any
 * type but the simple ones, with `multipart/form-data` (simple, but the documented form upload)
 * accepted with keys configured, or from a client that is not a browser (no Origin or Sec-Fetch-Site).
 */
export function contentTypeRefusal(route: "speech" | "voice_upload", contentType: string, h: SiteHeaders, keysConfigured: boolean): string | null {
  const type = mediaType(contentType);
  if (route === "speech") return type === "application/json" ? null : `Content-Type must be application/json, not '${type.slice(0, 100)}'`;
  if (!SIMPLE_TYPES.has(type)) return null;
  if (type === "multipart/form-data" && (keysConfigured || (h.origin === "" && h.fetchSite === ""))) return null;
  return type === "multipart/form-data"
    ? "multipart/form-data uploads from a browser need API keys configured; send the WAV as Content-Type: audio/wav"
    : `Content-Type '${type}' is not accepted for uploads; send the WAV as audio/wav (or multipart/form-data)`;
}

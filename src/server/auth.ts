/**
 * Who may connect, and with which limits. API keys are configured as SHA-256
 * hashes (never in clear); a key arrives as `Authorization: Bearer KEY`,
 * `X-Api-Key: KEY`, a `key.KEY` WebSocket subprotocol (browsers), or a
 * short-lived `?token=` minted by POST /v1/tokens. With no keys configured only
 * loopback peers are admitted.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";

export interface ApiKeyConfig {
  readonly id: string;
  /** Hex SHA-256 of the key. */
  readonly sha256: string;
  readonly maxContexts: number;
  readonly charsPerMinute: number;
  readonly maxSockets: number;
}

export interface Principal {
  /** Key id, or "loopback" when no keys are configured. */
  readonly id: string;
  readonly maxContexts: number;
  readonly charsPerMinute: number;
  readonly maxSockets: number;
}

export interface Credentials {
  readonly authorization: string;
  readonly apiKey: string;
  /** Raw Sec-WebSocket-Protocol header. */
  readonly protocols: string;
  readonly query: string;
  readonly remoteAddress: string;
}

export type AuthResult =
  | { ok: true; principal: Principal; protocol: string }
  | { ok: false; status: "401 Unauthorized" | "403 Forbidden"; reason: string };

export const SUBPROTOCOL = "soundstorm.v1";

export function sha256Hex(s: string): string {
  return createHash("sha256").update(s).digest("hex");
}

export function isLoopback(addr: string): boolean {
  const a = addr.toLowerCase();
  return a.startsWith("127.") || a === "::1" || a === "0000:0000:0000:0000:0000:0000:0000:0001" ||
    a.startsWith("::ffff:127.") || a.startsWith("0000:0000:0000:0000:0000:ffff:7f");
}

const LOOPBACK: Principal = { id: "loopback", maxContexts: Number.MAX_SAFE_INTEGER, charsPerMinute: Number.MAX_SAFE_INTEGER, maxSockets: Number.MAX_SAFE_INTEGER };

export class Authenticator {
  private readonly byHash: Map<string, ApiKeyConfig>;
  private readonly secret: Buffer;

  constructor(keys: readonly ApiKeyConfig[], private readonly tokenTtlS: number, secret?: string) {
    this.byHash = new Map(keys.map((k) => [k.sha256.toLowerCase(), k]));
    this.secret = secret ? Buffer.from(secret) : randomBytes(32);
  }

  get keysConfigured(): boolean {
    return this.byHash.size > 0;
  }

  private principalFor(key: string): Principal | null {
    const k = this.byHash.get(sha256Hex(key));
    return k ? { id: k.id, maxContexts: k.maxContexts, charsPerMinute: k.charsPerMinute, maxSockets: k.maxSockets } : null;
  }

  /** Decide at the WebSocket upgrade (or an HTTP request: protocols and query may be empty). */
  authenticate(c: Credentials): AuthResult {
    const offered = c.protocols.split(",").map((p) => p.trim()).filter(Boolean);
    const protocol = offered.includes(SUBPROTOCOL) ? SUBPROTOCOL : "";
    if (!this.keysConfigured) {
      if (isLoopback(c.remoteAddress)) return { ok: true, principal: LOOPBACK, protocol };
      return { ok: false, status: "403 Forbidden", reason: "no API keys are configured: only loopback connections are accepted" };
    }
    const bearer = /^Bearer\s+(.+)$/i.exec(c.authorization)?.[1]?.trim();
    const fromProtocol = offered.find((p) => p.startsWith("key."))?.slice(4);
    const key = bearer || c.apiKey || fromProtocol;
    if (key) {
      const p = this.principalFor(key);
      return p ? { ok: true, principal: p, protocol } : { ok: false, status: "401 Unauthorized", reason: "invalid API key" };
    }
    const token = new URLSearchParams(c.query).get("token");
    if (token) {
      const id = this.verifyToken(token);
      const k = id ? [...this.byHash.values()].find((x) => x.id === id) : undefined;
      if (k) return { ok: true, principal: { id: k.id, maxContexts: k.maxContexts, charsPerMinute: k.charsPerMinute, maxSockets: k.maxSockets }, protocol };
      return { ok: false, status: "401 Unauthorized", reason: "invalid or expired token" };
    }
    return { ok: false, status: "401 Unauthorized", reason: "missing API key (Authorization: Bearer, X-Api-Key, key.<KEY> subprotocol or ?token=)" };
  }

  /** A token for browsers: `<key id>.<expiry unix s>.<hmac>`, valid tokenTtlS seconds. */
  mintToken(principal: Principal, nowS = Math.floor(Date.now() / 1000)): { token: string; expires_at: number } {
    const exp = nowS + this.tokenTtlS;
    const body = `${Buffer.from(principal.id).toString("base64url")}.${exp}`;
    return { token: `${body}.${this.sign(body)}`, expires_at: exp };
  }

  verifyToken(token: string, nowS = Math.floor(Date.now() / 1000)): string | null {
    const parts = token.split(".");
    if (parts.length !== 3) return null;
    const body = `${parts[0]}.${parts[1]}`;
    const want = Buffer.from(this.sign(body));
    const got = Buffer.from(parts[2]);
    if (want.length !== got.length || !timingSafeEqual(want, got)) return null;
    if (!(Number(parts[1]) > nowS)) return null;
    return Buffer.from(parts[0], "base64url").toString();
  }

  private sign(body: string): string {
    return createHmac("sha256", this.secret).update(body).digest("base64url");
  }
}

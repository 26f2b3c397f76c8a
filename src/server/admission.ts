/**
 * Admission control and per-key / per-address usage, for one server instance.
 * When the machine is at capacity new contexts are refused with at_capacity
 * and a retry hint, so admitted streams keep their latency.
 */
import { ServiceError } from "../errors.js";
import type { Principal } from "./auth.js";

interface KeyUsage {
  sockets: number;
  contexts: number;
  /** Token bucket of characters (refills charsPerMinute per minute). */
  tokens: number;
  refilledAt: number;
}

export class Admission {
  private active = 0;
  private readonly keys = new Map<string, KeyUsage>();
  private readonly addresses = new Map<string, number>();

  constructor(private readonly maxActiveContexts: number, private readonly maxSocketsPerAddress: number) {}

  get activeContexts(): number {
    return this.active;
  }

  private usage(p: Principal): KeyUsage {
    let u = this.keys.get(p.id);
    if (!u) {
      u = { sockets: 0, contexts: 0, tokens: p.charsPerMinute, refilledAt: Date.now() };
      this.keys.set(p.id, u);
    }
    return u;
  }

  /** A socket opens; null if allowed, else the reason. */
  openSocket(p: Principal, address: string): string | null {
    const u = this.usage(p);
    if (u.sockets >= p.maxSockets) return `key '${p.id}' already has ${u.sockets} sockets (limit ${p.maxSockets})`;
    const a = this.addresses.get(address) ?? 0;
    if (a >= this.maxSocketsPerAddress) return `address already has ${a} sockets (limit ${this.maxSocketsPerAddress})`;
    u.sockets++;
    this.addresses.set(address, a + 1);
    return null;
  }

  closeSocket(p: Principal, address: string): void {
    const u = this.usage(p);
    u.sockets = Math.max(0, u.sockets - 1);
    const a = (this.addresses.get(address) ?? 1) - 1;
    if (a <= 0) this.addresses.delete(address); else this.addresses.set(address, a);
    if (u.sockets === 0 && u.contexts === 0 && u.tokens >= p.charsPerMinute) this.keys.delete(p.id);
  }

  /** A context wants to start: "ok", or why not. */
  openContext(p: Principal): "ok" | "at_capacity" | "key_context_limit" {
    if (this.active >= this.maxActiveContexts) return "at_capacity";
    const u = this.usage(p);
    if (u.contexts >= p.maxContexts) return "key_context_limit";
    u.contexts++;
    this.active++;
    return "ok";
  }

  closeContext(p: Principal): void {
    const u = this.usage(p);
    u.contexts = Math.max(0, u.contexts - 1);
    this.active = Math.max(0, this.active - 1);
  }

  /** Spend `chars` of the key's per-minute budget; returns ms to wait if over it, else 0, or null when `chars` is
   * more than a whole minute's budget (no wait would ever let it through). */
  spendChars(p: Principal, chars: number, now = Date.now()): number | null {
    if (p.charsPerMinute >= Number.MAX_SAFE_INTEGER) return 0;
    if (chars > p.charsPerMinute) return null;
    const u = this.usage(p);
    const rate = p.charsPerMinute / 60_000;
    u.tokens = Math.min(p.charsPerMinute, u.tokens + (now - u.refilledAt) * rate);
    u.refilledAt = now;
    if (chars > u.tokens) return Math.ceil((chars - u.tokens) / rate);
    u.tokens -= chars;
    return 0;
  }

  /** A hint for at_capacity: roughly one chunk's synthesis time. */
  retryAfterMs(): number {
    return 1000;
  }
}

/** Charge `chars` to the key's budget or throw the typed error a client gets: rate_limited (with the wait), or
 * text_too_long when one request is more than the key may send in a whole minute. */
export function chargeChars(admission: Admission, p: Principal, chars: number, contextId?: string): void {
  const wait = admission.spendChars(p, chars);
  if (wait === null) throw new ServiceError("text_too_long", `${chars} characters at once; key '${p.id}' may send ${p.charsPerMinute} a minute`, contextId);
  if (wait > 0) throw new ServiceError("rate_limited", `key '${p.id}'`, contextId, wait);
}

/** The context id's contract, shared by the server's schema and the SDK (which checks ids before sending, so a
 * bad one fails at once instead of as a server error that cannot name the context). */
export const CONTEXT_ID_MAX_LENGTH = 64;
export const CONTEXT_ID_PATTERN = "^[A-Za-z0-9_.:-]+$";

const CONTEXT_ID_RE = new RegExp(CONTEXT_ID_PATTERN);

export function isValidContextId(id: string): boolean {
  return id.length >= 1 && id.length <= CONTEXT_ID_MAX_LENGTH && CONTEXT_ID_RE.test(id);
}

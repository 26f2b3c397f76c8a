/** Turns one incoming WebSocket message into a validated ClientMessage or a typed error. */
import { TypeCompiler } from "@sinclair/typebox/compiler";
import { CLIENT_MESSAGES, type ClientMessage, type ClientMessageType } from "./messages.js";
import { ServiceError } from "../errors.js";

const checkers = Object.fromEntries(
  Object.entries(CLIENT_MESSAGES).map(([type, schema]) => [type, TypeCompiler.Compile(schema)]),
) as unknown as { [K in ClientMessageType]: ReturnType<typeof TypeCompiler.Compile> };

export interface TextLimits {
  readonly maxTextCharsPerMessage: number;
}

/** Parse and validate; throws ServiceError with the context id when it can be read. */
export function parseClientMessage(raw: string, limits: TextLimits): ClientMessage {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (e) {
    throw new ServiceError("invalid_json", (e as Error).message);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ServiceError("invalid_message", "expected a JSON object");
  }
  const obj = value as Record<string, unknown>;
  const contextId = typeof obj.context_id === "string" && obj.context_id.length <= 64 ? obj.context_id : undefined;
  if (typeof obj.type !== "string") {
    throw new ServiceError("invalid_message", "missing string field 'type'", contextId);
  }
  if (!Object.hasOwn(checkers, obj.type)) {
    throw new ServiceError("unknown_message_type", JSON.stringify(obj.type.slice(0, 40)), contextId);
  }
  const checker = checkers[obj.type as ClientMessageType];
  if (!checker.Check(value)) {
    const first = checker.Errors(value).First();
    const where = first ? `${first.path || "/"}: ${first.message}` : "invalid";
    throw new ServiceError("invalid_message", `${obj.type} ${where}`, contextId);
  }
  const msg = value as ClientMessage;
  if (msg.type === "append_text" && msg.text.length > limits.maxTextCharsPerMessage) {
    throw new ServiceError("text_too_long", `${msg.text.length} characters in one message, limit ${limits.maxTextCharsPerMessage}`, contextId);
  }
  return msg;
}

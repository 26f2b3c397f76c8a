/**
 * The SDK's Node entry: the same client, with the `ws` package as its WebSocket (Node 20 has no
 * global WebSocket by default). Browsers import ./client.js instead.
 *
 *   import { connect } from "soundstorm-server/dist/src/sdk/node.js";
 *   const client = await connect({ url: "ws://localhost:8080/v1/stream", apiKey: process.env.KEY });
 */
import WebSocket from "ws";
import { SoundstormClient, type ClientOptions, type WebSocketConstructor } from "./client.js";

export * from "./client.js";

/** ws implements the browser API the client uses (onmessage with event.data, binaryType "arraybuffer"). */
export const NodeWebSocket = WebSocket as unknown as WebSocketConstructor;

/** Connects with `ws` unless options.WebSocket says otherwise. */
export function connect(options: ClientOptions): Promise<SoundstormClient> {
  return SoundstormClient.connect({ WebSocket: NodeWebSocket, ...options });
}

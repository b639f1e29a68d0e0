import type { BackendContext } from '../../core/context.js';
import { NeonHttpTransport, type NodeExtras } from './transport.js';

export const createNeonHttpTransport = (ctx: BackendContext) => new NeonHttpTransport(ctx);

/** The Node entry's neon-http: HTTP keep-alive across warm invocations, warm WebSocket sessions. */
export const neonHttpFactory = (node: NodeExtras) => (ctx: BackendContext) => new NeonHttpTransport(ctx, node);

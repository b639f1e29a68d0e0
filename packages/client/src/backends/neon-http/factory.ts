import type { BackendContext } from '../../core/context.js';
import { NeonHttpTransport } from './transport.js';

export const createNeonHttpTransport = (ctx: BackendContext) => new NeonHttpTransport(ctx);

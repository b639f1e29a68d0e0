// The control: reading a Hyperdrive binding's property at global scope, which is what anypg's
// resolution did before (isHyperdriveBinding read `connectionString`). workerd refuses it, so the
// Worker does not start: the environment enforces the rule the other Workers are checked against.
import { env } from 'cloudflare:workers';

const url = env.HYPERDRIVE.connectionString;

export default {
  async fetch() {
    return new Response(typeof url);
  },
};

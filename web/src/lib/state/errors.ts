// Gateway errors in words.

import { errorText } from '../api';
import { GatewayError } from '../gateway';

const GATEWAY_ERRORS: Record<string, string> = {
  rate_limited: "You're sending too fast. Slow down a little.",
  message_too_long: 'That message is too long.',
  not_found: 'That no longer exists.',
  forbidden: "You can't do that.",
};

export function gatewayErrorText(e: unknown): string {
  if (e instanceof GatewayError) {
    if (e.code === 'rate_limited') {
      const s = e.retryAfterMs ? Math.max(1, Math.ceil(e.retryAfterMs / 1000)) : 0;
      return s ? `You're doing that too often. Try again in ${s} s.` : GATEWAY_ERRORS.rate_limited;
    }
    return e.message && e.message !== e.code ? e.message : (GATEWAY_ERRORS[e.code] ?? `Error: ${e.code}`);
  }
  return errorText(e);
}

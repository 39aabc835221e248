// The ESM entry point: the CommonJS implementation's exports, so that
// both entry points share one set of classes (`instanceof` works across
// them) and one native module.
import cjs from "./index.cjs";

export const {
  AgentWritApp,
  Agent,
  DelegatedToken,
  AgentWritOperator,
  validate,
  scopeIsSubset,
  AgentAuth,
  Refusal,
  AgentWritError,
  AuthenticationError,
  AuthorizationError,
  CryptoError,
  DecodeError,
  InvalidInputError,
  ProblemResponseError,
  RateLimitError,
  ReleasedError,
  TransportError,
  drain,
  VERSION,
} = cjs;

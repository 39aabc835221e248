import cjs from "./testing.cjs";

export const { DevBroker, UNIVERSAL_APP_SCOPES } = cjs;

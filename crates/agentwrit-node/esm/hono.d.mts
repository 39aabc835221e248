export * from "./hono.cjs";

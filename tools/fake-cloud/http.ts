/** How an API of the fake cloud answers: a status, a JSON (or text) body, headers. */
export type Reply = (status: number, value: unknown, headers?: Record<string, string>) => void;

/** A request's JSON body, as the API's documented fields (each handler reads the ones it takes). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type JsonBody = Record<string, any>;

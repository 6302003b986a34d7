// The console's only way to the platform: the public gRPC API over
// gRPC-Web, on the origin that served the page (the gateway), with the
// signed-in API key on every call. No private endpoint, no second backend.
import { Code, ConnectError, createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import type { DescService } from "@bufbuild/protobuf";
import { BadRequestSchema } from "./gen/google/rpc/error_details_pb";
import { session } from "./session";

const withKey: Interceptor = (next) => async (request) => {
  const key = session.value?.apiKey;
  if (key) request.header.set("authorization", `Bearer ${key}`);
  return next(request);
};

const transport = createGrpcWebTransport({
  baseUrl: globalThis.location?.origin ?? "",
  useBinaryFormat: true,
  interceptors: [withKey],
});

const clients = new Map<DescService, unknown>();

/** A client of one public service, shared by every page. */
export function client<T extends DescService>(service: T): Client<T> {
  let made = clients.get(service) as Client<T> | undefined;
  if (!made) {
    made = createClient(service, transport);
    clients.set(service, made);
  }
  return made;
}

/** One wrong field, as the server named it. */
export interface FieldError {
  field: string;
  description: string;
}

/** What a refused call tells a person: the server's reason and each field it named. */
export interface Refusal {
  code: string;
  message: string;
  fields: FieldError[];
}

export function refusal(error: unknown): Refusal {
  const e = ConnectError.from(error);
  const fields = e
    .findDetails(BadRequestSchema)
    .flatMap((detail) => detail.fieldViolations)
    .map((v) => ({ field: v.field, description: v.description }));
  return { code: Code[e.code] ?? String(e.code), message: e.rawMessage, fields };
}

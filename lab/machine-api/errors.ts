// The one error type of the machine model: a refusal with the gRPC code Talos answers it with.
export class ModelError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message)
  }
}

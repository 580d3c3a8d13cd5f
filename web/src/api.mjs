// The one place the app talks to the BinDaaS API: a bearer token per session, and every error turned into the
// sentence the problem+json (or FHIR OperationOutcome) body gives, naming the field.
export class ApiError extends Error {
  constructor(status, problem) {
    const field = problem.field ? ` (${problem.field})` : "";
    super(`${problem.detail ?? problem.title ?? `HTTP ${status}`}${field}`);
    this.status = status;
    this.problem = problem;
  }
}

export class Api {
  constructor(base = "") {
    this.base = base;
    this.token = null;
  }

  async request(method, path, body) {
    const headers = { accept: "application/json" };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    let response;
    try {
      response = await fetch(this.base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (err) {
      throw new ApiError(0, { detail: `the service did not answer (${err.message})` });
    }
    const type = response.headers.get("content-type") ?? "";
    const payload = type.includes("json") ? await response.json() : await response.blob();
    if (!response.ok) {
      const problem = payload?.resourceType === "OperationOutcome"
        ? { detail: payload.issue?.[0]?.diagnostics, field: payload.issue?.[0]?.expression?.[0] } : (payload ?? {});
      throw new ApiError(response.status, problem);
    }
    return payload;
  }

  get(path) { return this.request("GET", path); }
  post(path, body) { return this.request("POST", path, body ?? {}); }
}

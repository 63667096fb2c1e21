// The explorer's API (/api/v1) with the login token: every request sends "Authorization: Bearer <token>",
// a 401 ends the session (the token is dropped and the app shows the login page with the server's reason),
// downloads are fetched with the token and saved from a Blob.

const API = "/api/v1";
const TOKEN_KEY = "explorer.token";

export class ApiError extends Error {
  constructor(status, code, detail) {
    super(detail || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
    this.detail = detail;
  }
}

let unauthorized = () => {};

/** Called with {code, detail} when the server answers 401 (or no token is held). */
export function onUnauthorized(handler) {
  unauthorized = handler;
}

export function getToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

export function setToken(token) {
  try {
    sessionStorage.setItem(TOKEN_KEY, token);
  } catch {
    // storage unavailable: the token lives as long as the page
  }
}

export function clearToken() {
  try {
    sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // nothing to clear
  }
}

/** "/api/v1<path>?<params>", leaving out empty parameters. */
export function apiUrl(path, params) {
  const query = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== null && v !== undefined && v !== "") query.set(k, String(v));
  }
  const q = query.toString();
  return `${API}${path}${q ? `?${q}` : ""}`;
}

async function body(response) {
  try {
    return await response.json();
  } catch {
    return {};
  }
}

async function request(path, params, accept) {
  const token = getToken();
  if (!token) {
    const error = { code: "no_token", detail: null };
    unauthorized(error);
    throw new ApiError(401, error.code, "not logged in");
  }
  let response;
  try {
    response = await fetch(apiUrl(path, params), {
      headers: { Authorization: `Bearer ${token}`, Accept: accept },
      cache: "no-store",
      credentials: "omit",
    });
  } catch (exc) {
    throw new ApiError(0, "network", String(exc && exc.message ? exc.message : exc));
  }
  if (response.status === 401) {
    const answer = await body(response);
    const error = { code: answer.error || "unauthorized", detail: answer.detail || null };
    unauthorized(error);
    throw new ApiError(401, error.code, error.detail);
  }
  if (!response.ok) {
    const answer = await body(response);
    throw new ApiError(
      response.status,
      answer.error || `http_${response.status}`,
      answer.detail || response.statusText,
    );
  }
  return response;
}

/** GET a JSON answer. */
export async function getJson(path, params) {
  const response = await request(path, params, "application/json");
  return response.json();
}

function filenameOf(disposition) {
  if (!disposition) return null;
  const star = /filename\*\s*=\s*UTF-8''([^;]+)/i.exec(disposition);
  if (star) {
    try {
      return decodeURIComponent(star[1].trim());
    } catch {
      // fall through to the plain name
    }
  }
  const plain = /filename\s*=\s*"?([^";]+)"?/i.exec(disposition);
  return plain ? plain[1].trim() : null;
}

/** Save a Blob under ``name`` through a temporary object URL. */
export function saveBlob(blob, name) {
  const href = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = href;
  a.download = name.replace(/[\\/]/g, "_");
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(href), 30_000);
}

/** GET a file with the token and save it: {name, size}. */
export async function download(path, params, fallbackName) {
  const response = await request(path, params, "*/*");
  const blob = await response.blob();
  const name = filenameOf(response.headers.get("Content-Disposition")) || fallbackName;
  saveBlob(blob, name);
  return { name, size: blob.size };
}

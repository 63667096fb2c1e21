// The explorer's API (/api/v1) with the login token: every request sends "Authorization: Bearer <token>",
// a 401 ends the session (the token is dropped and the app shows the login page with the server's reason),
// downloads are fetched with the token and saved from a Blob. The answers' shapes are in types.js; the pages read
// them defensively (isObject, pick, listOf), since a field may be missing or null.

const API = "/api/v1";
const TOKEN_KEY = "explorer.token";

export class ApiError extends Error {
  /**
   * @param {number} status  the HTTP status, 0 if the request did not reach the explorer
   * @param {string} code  the API's error code ("not_found", ...), or "http_<status>", "network", "no_token"
   * @param {string | null} detail  the API's explanation
   */
  constructor(status, code, detail) {
    super(detail || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
    this.detail = detail;
  }
}

/** @typedef {{code: string, detail: string | null}} Unauthorized  why the server refused the token */

/** @type {(error: Unauthorized) => void} */
let unauthorized = () => {};

/** Called with {code, detail} when the server answers 401 (or no token is held). */
export function onUnauthorized(/** @type {(error: Unauthorized) => void} */ handler) {
  unauthorized = handler;
}

export function getToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

export function setToken(/** @type {string} */ token) {
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

/** @typedef {Record<string, unknown> | null | undefined} Params  query parameters; empty ones are left out */

/** "/api/v1<path>?<params>", leaving out empty parameters. */
export function apiUrl(/** @type {string} */ path, /** @type {Params} */ params) {
  const query = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== null && v !== undefined && v !== "") query.set(k, String(v));
  }
  const q = query.toString();
  return `${API}${path}${q ? `?${q}` : ""}`;
}

/** @returns {Promise<{error?: string, detail?: string}>} */
async function body(/** @type {Response} */ response) {
  try {
    return await response.json();
  } catch {
    return {};
  }
}

/**
 * @param {string} path
 * @param {Params} params
 * @param {string} accept
 * @param {Record<string, string>} [extra]  more request headers
 */
async function request(path, params, accept, extra) {
  const token = getToken();
  if (!token) {
    const error = { code: "no_token", detail: null };
    unauthorized(error);
    throw new ApiError(401, error.code, "not logged in");
  }
  let response;
  try {
    response = await fetch(apiUrl(path, params), {
      headers: { ...extra, Authorization: `Bearer ${token}`, Accept: accept },
      cache: "no-store",
      credentials: "omit",
    });
  } catch (exc) {
    const message = exc ? /** @type {{message?: unknown}} */ (exc).message : undefined;
    throw new ApiError(0, "network", String(message ? message : exc));
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

/**
 * GET a JSON answer, of the type types.js gives for ``path``.
 * @param {string} path
 * @param {Params} [params]
 * @param {Record<string, string>} [headers]  more request headers (a private grant's opening)
 * @returns {Promise<any>}
 */
export async function getJson(path, params, headers) {
  const response = await request(path, params, "application/json", headers);
  return response.json();
}

function filenameOf(/** @type {string | null} */ disposition) {
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
export function saveBlob(/** @type {Blob} */ blob, /** @type {string} */ name) {
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

/**
 * GET a file with the token and save it: {name, size}.
 * @param {string} path
 * @param {Params} params
 * @param {string} fallbackName  when the answer names no file
 */
export async function download(path, params, fallbackName) {
  const response = await request(path, params, "*/*");
  const blob = await response.blob();
  const name = filenameOf(response.headers.get("Content-Disposition")) || fallbackName;
  saveBlob(blob, name);
  return { name, size: blob.size };
}

// -- reading answers --------------------------------------------------------------------------------------

/** @returns {value is Record<string, any>} */
export function isObject(/** @type {unknown} */ value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/**
 * The first of ``names`` that ``obj`` has (not undefined).
 * @param {unknown} obj
 * @param {string[]} names
 * @returns {any}
 */
export function pick(obj, ...names) {
  if (!isObject(obj)) return undefined;
  for (const n of names) if (obj[n] !== undefined) return obj[n];
  return undefined;
}

/**
 * The list an answer holds under ``key`` (or the answer itself if it is a list); else an empty list.
 * @param {unknown} answer
 * @param {string} key
 * @returns {any[]}
 */
export function listOf(answer, key) {
  if (Array.isArray(answer)) return answer;
  if (isObject(answer) && Array.isArray(answer[key])) return answer[key];
  return [];
}

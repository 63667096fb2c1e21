// Values as text for the page: times (local, in the page's language), numbers, anything else.

import { lang } from "./i18n.js";

function locale() {
  return lang() === "zh" ? "zh-CN" : "en-GB";
}

/** A time in ms since the epoch, local, to the second. */
export function fmtMs(/** @type {unknown} */ ms) {
  if (ms === null || ms === undefined || ms === "" || !Number.isFinite(Number(ms))) return "—";
  const d = new Date(Number(ms));
  if (Number.isNaN(d.getTime())) return "—";
  return d.toLocaleString(locale(), {
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    hour12: false,
  });
}

/** A chain time (seconds since the epoch). */
export function fmtSec(/** @type {unknown} */ sec) {
  if (sec === null || sec === undefined || sec === 0 || !Number.isFinite(Number(sec))) return "—";
  return fmtMs(Number(sec) * 1000);
}

export function fmtNum(/** @type {unknown} */ n) {
  if (n === null || n === undefined || n === "") return "—";
  const v = Number(n);
  return Number.isFinite(v) ? v.toLocaleString(locale()) : String(n);
}

/** A value as text: scalars as they are, objects as compact JSON. */
export function text(/** @type {unknown} */ value) {
  if (value === null || value === undefined || value === "") return "—";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium" });
const dateTimeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

export function date(t: Timestamp | undefined): string {
  return t ? dateFormat.format(timestampDate(t)) : "–";
}

export function dateTime(t: Timestamp | undefined): string {
  return t ? dateTimeFormat.format(timestampDate(t)) : "–";
}

/** `CUSTOMER_STATUS_SYNC_PENDING`-style enum names as words: "Sync pending". */
export function enumLabel(name: string | undefined, prefix: string): string {
  if (!name) return "–";
  const words = name.replace(prefix, "").toLowerCase().replace(/_/g, " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** Triggers a download of `text` as a file. */
export function download(filename: string, text: string, type = "text/csv"): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

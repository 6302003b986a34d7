import type { Refusal } from "../api";

/** A refused call, with the server's own reason. */
export function Refused({ refusal }: { refusal: Refusal | null }) {
  if (!refusal) return null;
  return (
    <div class="refused" role="alert">
      <strong>Refused ({refusal.code}):</strong> {refusal.message}
      {refusal.fields.length > 0 && (
        <ul>
          {refusal.fields.map((f) => (
            <li key={f.field}>
              <code>{f.field}</code>: {f.description}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

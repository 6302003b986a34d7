// Charts of the dashboard, drawn by chart.js on a canvas (no inline
// styles in markup). Each canvas is an image with a summary label; the
// widget next to it carries the same numbers as a table.
import {
  ArcElement,
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  DoughnutController,
  Legend,
  LinearScale,
  Tooltip,
  type ChartConfiguration,
} from "chart.js";
import { useEffect, useRef } from "preact/hooks";

Chart.register(BarController, BarElement, CategoryScale, LinearScale, Tooltip, Legend, DoughnutController, ArcElement);

/** Distinct colours with enough contrast against white. */
export const PALETTE = ["#0b5cad", "#1a6b32", "#7a4a00", "#6b3fa0", "#a61b1b", "#00707a", "#30437a", "#5a2626"];

export interface Series {
  label: string;
  data: number[];
  color?: string;
}

function reducedMotion(): boolean {
  return globalThis.matchMedia?.("(prefers-reduced-motion: reduce)").matches ?? false;
}

/**
 * One chart. `label` summarises it for screen readers (the canvas is an
 * image); `onPick(series, index)` opens what a bar or slice counts.
 */
export function ChartCanvas({
  kind,
  labels,
  series,
  label,
  onPick,
}: {
  kind: "bar" | "doughnut";
  labels: string[];
  series: Series[];
  label: string;
  onPick?: (series: number, index: number) => void;
}) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const pick = useRef(onPick);
  pick.current = onPick;
  const shape = JSON.stringify({ kind, labels, series });

  useEffect(() => {
    const target = canvas.current;
    if (!target) return;
    const config: ChartConfiguration<"bar" | "doughnut", number[], string> = {
      type: kind,
      data: {
        labels,
        datasets: series.map((s, i) => ({
          label: s.label,
          data: s.data,
          backgroundColor: kind === "doughnut" ? labels.map((_, j) => PALETTE[j % PALETTE.length]) : (s.color ?? PALETTE[i % PALETTE.length]),
          borderWidth: kind === "doughnut" ? 1 : 0,
        })),
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: reducedMotion() ? false : undefined,
        plugins: {
          legend: { display: kind === "doughnut" || series.length > 1, position: kind === "doughnut" ? "bottom" : "top" },
        },
        scales:
          kind === "bar"
            ? { y: { beginAtZero: true, ticks: { precision: 0 } } }
            : undefined,
        onClick: (_event, elements) => {
          const hit = elements[0];
          if (hit && pick.current) pick.current(hit.datasetIndex, hit.index);
        },
        onHover: (event, elements) => {
          const el = event.native?.target;
          if (el instanceof HTMLCanvasElement) el.style.cursor = elements.length && pick.current ? "pointer" : "default";
        },
      },
    };
    const chart = new Chart(target, config as ChartConfiguration);
    return () => chart.destroy();
  }, [shape]);

  return (
    <div class="chart">
      <canvas ref={canvas} role="img" aria-label={label}>
        {label}
      </canvas>
    </div>
  );
}

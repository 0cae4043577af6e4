// The cargo temperature over time as an SVG chart: the allowed band shaded, readings
// outside it in red, the profile's outer zones dashed when the readings come near them,
// round ticks, and the reading under the pointer.

import { useMemo, useRef, useState } from 'react';
import type { Reading } from '../api/types';
import { fmtTemp, fmtTime } from '../util/format';
import { chartDomain, niceTicks, thin, timeTicks, zoneLines, type ChartBand } from './chart';

const W = 760;
const H = 260;
const M = { top: 12, right: 16, bottom: 28, left: 44 };

export function TemperatureChart({ readings, band }: { readings: Reading[]; band: ChartBand }) {
  const svg = useRef<SVGSVGElement>(null);
  const [hover, setHover] = useState<Reading | null>(null);
  const points = useMemo(() => thin(readings, 600), [readings]);
  const d = useMemo(() => chartDomain(points, band), [points, band]);
  const x = (t: number) => M.left + ((t - d.t0) / Math.max(1, d.t1 - d.t0)) * (W - M.left - M.right);
  const y = (v: number) => M.top + ((d.y1 - v) / Math.max(1e-9, d.y1 - d.y0)) * (H - M.top - M.bottom);
  const outside = (v: number) => v < band.min_c || v > band.max_c;
  const zones = zoneLines(band, d);
  const zoneNote =
    zones.length === 0 ? '' : `; dashed lines mark the ${zones.map((z) => z.zone).join(' and ')} zone${zones.length > 1 ? 's' : ''}`;

  const path = points
    .map((r, i) => `${i === 0 ? 'M' : 'L'}${x(Date.parse(r.ts)).toFixed(1)},${y(r.temperature_c).toFixed(1)}`)
    .join('');
  const spanMs = d.t1 - d.t0;

  const onMove = (event: React.MouseEvent<SVGSVGElement>) => {
    if (!svg.current || points.length === 0) return;
    const rect = svg.current.getBoundingClientRect();
    const px = ((event.clientX - rect.left) / rect.width) * W;
    const t = d.t0 + ((px - M.left) / (W - M.left - M.right)) * (d.t1 - d.t0);
    let best = points[0];
    for (const r of points) if (Math.abs(Date.parse(r.ts) - t) < Math.abs(Date.parse(best.ts) - t)) best = r;
    setHover(best);
  };

  return (
    <figure className="chart" data-testid="temperature-chart" data-points={readings.length}>
      <svg
        ref={svg}
        viewBox={`0 0 ${W} ${H}`}
        role="img"
        aria-label={`Cargo temperature over time; allowed ${band.min_c} to ${band.max_c} °C`}
        onMouseMove={onMove}
        onMouseLeave={() => setHover(null)}
      >
        <rect
          className="band"
          x={M.left}
          width={W - M.left - M.right}
          y={y(band.max_c)}
          height={Math.max(0, y(band.min_c) - y(band.max_c))}
        />
        {niceTicks(d.y0, d.y1, 6).map((v) => (
          <g key={`y${v}`}>
            <line className="grid" x1={M.left} x2={W - M.right} y1={y(v)} y2={y(v)} />
            <text className="tick" x={M.left - 6} y={y(v) + 4} textAnchor="end">
              {v}
            </text>
          </g>
        ))}
        {timeTicks(d.t0, d.t1).map((t) => (
          <text key={`t${t}`} className="tick" x={x(t)} y={H - 8} textAnchor="middle">
            {new Date(t).toLocaleString('en-GB', spanMs > 86_400_000
              ? { day: '2-digit', month: 'short', hour: '2-digit' }
              : { hour: '2-digit', minute: '2-digit' })}
          </text>
        ))}
        <line className="band-edge" x1={M.left} x2={W - M.right} y1={y(band.max_c)} y2={y(band.max_c)} />
        <line className="band-edge" x1={M.left} x2={W - M.right} y1={y(band.min_c)} y2={y(band.min_c)} />
        <text className="band-label" x={W - M.right - 4} y={y(band.max_c) - 4} textAnchor="end">
          max {band.max_c} °C
        </text>
        <text className="band-label" x={W - M.right - 4} y={y(band.min_c) + 12} textAnchor="end">
          min {band.min_c} °C
        </text>
        {zones.map(({ zone, c }) => (
          <g key={zone} className={`zone zone-${zone}`} data-testid={`zone-${zone}`} data-c={c}>
            <line className="zone-edge" x1={M.left} x2={W - M.right} y1={y(c)} y2={y(c)} />
            <text className="zone-label" x={M.left + 4} y={zone === 'hot' ? y(c) - 4 : y(c) + 12}>
              {zone} zone {c} °C
            </text>
          </g>
        ))}
        {path && <path className="line" d={path} />}
        {points
          .filter((r) => outside(r.temperature_c))
          .map((r) => (
            <circle key={r.reading_id} className="out" cx={x(Date.parse(r.ts))} cy={y(r.temperature_c)} r={2.2} />
          ))}
        {hover && (
          <g className="hover">
            <line x1={x(Date.parse(hover.ts))} x2={x(Date.parse(hover.ts))} y1={M.top} y2={H - M.bottom} />
            <circle cx={x(Date.parse(hover.ts))} cy={y(hover.temperature_c)} r={4} />
          </g>
        )}
        <text className="axis-label" x={12} y={M.top + 4} transform={`rotate(-90 12 ${M.top + 4})`} textAnchor="end">
          °C
        </text>
      </svg>
      <figcaption className="muted small">
        {readings.length === 0
          ? 'No readings yet.'
          : hover
            ? `${fmtTime(hover.ts)}: ${fmtTemp(hover.temperature_c)}, ${hover.vibration_g.toFixed(2)} g`
            : `${readings.length} readings; the shaded band is the allowed range${zoneNote}.`}
      </figcaption>
    </figure>
  );
}

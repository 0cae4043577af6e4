#!/usr/bin/env node
// The table of bench/detector/run: readings per CPU second (= per core) of
// the Rust detector core (criterion's estimates, measured in the thread's CPU
// time) and of the JavaScript baseline (the process's CPU time), their ratio,
// what each does, and the machine.
//
// Usage: node report.js <criterion group dir> <js result json> <stream manifest>
'use strict';

const fs = require('fs');
const path = require('path');

const [groupDir, jsFile, manifestFile] = process.argv.slice(2);
if (!groupDir || !jsFile || !manifestFile) {
  console.error('usage: node report.js <criterion group dir> <js result json> <stream manifest>');
  process.exit(2);
}

const manifest = JSON.parse(fs.readFileSync(manifestFile, 'utf8'));
const js = JSON.parse(fs.readFileSync(jsFile, 'utf8').trim().split('\n').pop());
const records = manifest.records;
if (js.stream_readings !== records) {
  console.error(`report: the JavaScript run read ${js.stream_readings} lines, the manifest says ${records}`);
  process.exit(1);
}

// criterion's mean CPU time per iteration (one iteration = the whole stream), ns
function estimate(bench) {
  const file = path.join(groupDir, bench, 'new', 'estimates.json');
  const mean = JSON.parse(fs.readFileSync(file, 'utf8')).mean;
  const rate = (ns) => records / (ns / 1e9);
  return {
    seconds: mean.point_estimate / 1e9,
    rate: rate(mean.point_estimate),
    // a longer time is a lower rate
    low: rate(mean.confidence_interval.upper_bound),
    high: rate(mean.confidence_interval.lower_bound),
  };
}

const core = estimate('decode-rules-mkt');
const decode = estimate('decode-only');
const fmt = (n) => Math.round(n).toLocaleString('en-US');
const pad = (text, width) => String(text).padEnd(width);
const lpad = (text, width) => String(text).padStart(width);

const expected = {};
for (const alarm of manifest.expected_alarms) {
  const key = `${alarm.alarm_type} ${alarm.transition}`;
  expected[key] = (expected[key] || 0) + 1;
}

console.log('');
console.log('Detector core, readings per second on one core (per CPU second)');
console.log('');
console.log(`stream: ${records.toLocaleString('en-US')} Kinesis records (${manifest.duplicates} resent), ` +
  `${manifest.trucks} trucks × ${manifest.duration_s / 60} min at ${manifest.rate_hz} Hz, seed ${manifest.seed}, ` +
  `${manifest.shipments.length} shipments`);
console.log(`        profiles ${JSON.stringify(manifest.records_by_profile)}; ` +
  `incidents ${manifest.incidents.map((i) => `${i.kind}@${i.truck}`).join(', ')}`);
console.log(`        alarms the rules should raise or escalate: ${JSON.stringify(expected)}`);
console.log('');
const rows = [
  ['implementation', 'readings/s', '95 % interval / wall', 'CPU/pass'],
  ['Rust core (criterion mean)', fmt(core.rate), `${fmt(core.low)} – ${fmt(core.high)}`, `${core.seconds.toFixed(3)} s`],
  ['  of which decode only', fmt(decode.rate), `${fmt(decode.low)} – ${fmt(decode.high)}`, `${decode.seconds.toFixed(3)} s`],
  ['JavaScript simple rules', fmt(js.readings_per_cpu_s), `(${fmt(js.readings_per_s)} per wall s)`,
    `${(records / js.readings_per_cpu_s).toFixed(3)} s`],
];
const widths = [28, 12, 26, 10];
for (const row of rows) {
  console.log(`  ${pad(row[0], widths[0])} ${lpad(row[1], widths[1])}   ${pad(row[2], widths[2])} ${lpad(row[3], widths[3])}`);
}
console.log('');
console.log(`ratio Rust core / JavaScript: ${(core.rate / js.readings_per_cpu_s).toFixed(2)} ` +
  `(JavaScript / Rust core: ${(js.readings_per_cpu_s / core.rate).toFixed(2)}); ` +
  `Rust decode only / JavaScript: ${(decode.rate / js.readings_per_cpu_s).toFixed(2)}`);
console.log('');
console.log('what each does per record:');
console.log('  Rust core   decode_record (JSON, record fields, full reading validation, both timestamps parsed),');
console.log('              batches of 100: lookups, assign, group (order, duplicates), every rule of the');
console.log('              shipment\'s profile (excursion, budget, shock, trend, offline clear) and the MKT');
console.log('              through ShipmentMonitor::observe, alarm events, tracking carried between batches');
console.log(`  JavaScript  JSON.parse, temperature > 8 or < 2 → WARNING, vibration > 4 → CRITICAL ` +
  `(${js.alarms_per_pass.toLocaleString('en-US')} "alarms" per pass: no profile, no delay, no state)`);
console.log('');
console.log(`machine: ${process.env.BENCH_CPU || 'unknown CPU'}, ${process.env.BENCH_CORES || '?'} cores; ` +
  `${process.env.BENCH_RUSTC || 'rustc ?'}; node ${process.version}`);
console.log(`         ${process.env.BENCH_LOAD || ''}`);

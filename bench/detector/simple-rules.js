#!/usr/bin/env node
// The baseline of the detector benchmark: a straightforward per-reading
// JavaScript implementation of the simple rules, on the same recorded stream
// as the Rust benchmark (one Kinesis record's data, a reading's JSON, per line).
//
//   temperature > 8 °C or < 2 °C → WARNING
//   vibration > 4 g              → CRITICAL
//
// Usage: node simple-rules.js <stream.jsonl> [seconds]
// Prints one JSON line: readings, alarms, elapsed and readings per second, and
// the process's CPU time over the same span (V8 collects garbage on helper
// threads too, so CPU seconds can exceed elapsed seconds).
'use strict';

const fs = require('fs');

const [file, secondsArg] = process.argv.slice(2);
if (!file) {
  console.error('usage: node simple-rules.js <stream.jsonl> [seconds]');
  process.exit(2);
}
const minSeconds = Number(secondsArg || 5);
const lines = fs.readFileSync(file, 'utf8').split('\n').filter((line) => line.length > 0);

function evaluate(line) {
  const reading = JSON.parse(line);
  let alarm = null;
  if (reading.temperature_c > 8 || reading.temperature_c < 2) {
    alarm = { type: 'TEMPERATURE', severity: 'WARNING', shipment: reading.shipment_id };
  }
  if (reading.vibration_g > 4) {
    alarm = { type: 'SHOCK', severity: 'CRITICAL', shipment: reading.shipment_id };
  }
  return alarm;
}

function pass() {
  let alarms = 0;
  for (const line of lines) {
    if (evaluate(line) !== null) alarms += 1;
  }
  return alarms;
}

// Warm-up: let the JIT compile the hot path before measuring.
let alarms = pass();
pass();

let readings = 0;
const cpuStart = process.cpuUsage();
const start = process.hrtime.bigint();
let elapsed = 0;
do {
  alarms = pass();
  readings += lines.length;
  elapsed = Number(process.hrtime.bigint() - start) / 1e9;
} while (elapsed < minSeconds);
const cpu = process.cpuUsage(cpuStart);
const cpuSeconds = (cpu.user + cpu.system) / 1e6;

console.log(JSON.stringify({
  implementation: 'javascript-simple-rules',
  node: process.version,
  stream_readings: lines.length,
  alarms_per_pass: alarms,
  readings,
  elapsed_s: Number(elapsed.toFixed(3)),
  readings_per_s: Math.round(readings / elapsed),
  cpu_s: Number(cpuSeconds.toFixed(3)),
  readings_per_cpu_s: Math.round(readings / cpuSeconds),
}));

/**
 * The browser demo page (GET /): markup and CSS only; the code is /static/demo/app.js (compiled from
 * src/demo/app.ts), which imports the SDK (/static/sdk/client.js) as an ES module.
 */
export const DEMO_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>SoundStorm streaming TTS demo</title>
<link rel="icon" href="data:,">
<style>
  :root { --fg: #1d2330; --muted: #6b7385; --line: #d9dde6; --accent: #2f6fde; --hl: #ffe066; --bg: #f6f7fa; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
  main { max-width: 860px; margin: 0 auto; padding: 20px; }
  h1 { font-size: 20px; margin: 0 0 4px; }
  .sub { color: var(--muted); margin: 0 0 16px; font-size: 13px; }
  .card { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 14px; margin-bottom: 14px; }
  .row { display: flex; flex-wrap: wrap; gap: 10px; align-items: center; }
  label { font-size: 13px; color: var(--muted); display: flex; gap: 6px; align-items: center; }
  input, select, button, textarea { font: inherit; }
  input, select { padding: 5px 8px; border: 1px solid var(--line); border-radius: 6px; background: #fff; }
  button { padding: 6px 14px; border-radius: 6px; border: 1px solid var(--accent); background: var(--accent); color: #fff; cursor: pointer; }
  button.secondary { background: #fff; color: var(--accent); }
  button:disabled { opacity: .5; cursor: default; }
  textarea { width: 100%; min-height: 84px; padding: 10px; border: 1px solid var(--line); border-radius: 6px; resize: vertical; }
  #status { font-size: 13px; }
  #status.ok { color: #17803d; } #status.bad { color: #b42318; }
  .metrics { display: grid; grid-template-columns: repeat(auto-fit, minmax(130px, 1fr)); gap: 8px; }
  .metric { border: 1px solid var(--line); border-radius: 6px; padding: 8px; }
  .metric .v { font-size: 20px; font-variant-numeric: tabular-nums; }
  .metric .k { font-size: 12px; color: var(--muted); }
  #transcript p { margin: 0 0 8px; font-size: 17px; }
  #transcript .w { border-radius: 3px; transition: background .08s; }
  #transcript .w.spoken { color: var(--muted); }
  #transcript .w.speaking { background: var(--hl); color: var(--fg); }
  #log { font: 12px/1.4 ui-monospace, monospace; color: var(--muted); max-height: 120px; overflow: auto; white-space: pre-wrap; margin: 0; }
  .hint { font-size: 12px; color: var(--muted); }
</style>
</head>
<body>
<main>
  <h1>SoundStorm streaming text-to-speech</h1>
  <p class="sub">Type: each word goes to the server as you finish it, audio comes back while you type. <b>Enter</b> ends the utterance.</p>

  <form id="auth" class="card row" autocomplete="off">
    <label>API key <input id="key" type="password" autocomplete="off" placeholder="not needed on loopback without keys" size="30"></label>
    <button id="connect" class="secondary" type="submit">Connect</button>
    <span id="status">connecting…</span>
  </form>

  <div class="card">
    <div class="row" style="margin-bottom:10px">
      <label>Voice <select id="voice" disabled></select></label>
      <label>Latency <select id="latency"><option value="low" selected>low</option><option value="balanced">balanced</option><option value="quality">quality</option></select></label>
      <label>Jitter buffer <input id="jitter" type="number" min="0" max="2000" step="20" value="100" style="width:80px"> ms</label>
      <span id="decoder" class="hint"></span>
    </div>
    <textarea id="text" placeholder="Start typing… (Enter to finish)" disabled></textarea>
    <div class="row" style="margin-top:8px">
      <button id="speak" disabled>Speak (Enter)</button>
      <button id="stop" class="secondary" disabled>Stop</button>
      <span id="model" class="hint"></span>
    </div>
  </div>

  <div class="card metrics">
    <div class="metric"><div class="v" id="m-latency">–</div><div class="k">first audio after the keystroke that completed the first phrase (ms)</div></div>
    <div class="metric"><div class="v" id="m-heard">–</div><div class="k">… until it plays, with the jitter buffer (ms)</div></div>
    <div class="metric"><div class="v" id="m-ttfa">–</div><div class="k">server time to first audio (ms)</div></div>
    <div class="metric"><div class="v" id="m-rtf">–</div><div class="k">real-time factor (generation / audio)</div></div>
    <div class="metric"><div class="v" id="m-audio">–</div><div class="k">audio of the last utterance (s)</div></div>
    <div class="metric"><div class="v" id="m-frames">0</div><div class="k">audio frames received</div></div>
    <div class="metric"><div class="v" id="m-underruns">0</div><div class="k">playback underruns</div></div>
    <div class="metric"><div class="v" id="m-rtt">–</div><div class="k">ping round trip (ms)</div></div>
  </div>

  <div class="card">
    <div id="transcript"></div>
    <pre id="log"></pre>
  </div>
</main>
<script type="module" src="/static/demo/app.js"></script>
</body>
</html>
`;

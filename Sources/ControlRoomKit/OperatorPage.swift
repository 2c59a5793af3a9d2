/// The operator's page: open alerts with kind, device, location, fix age, time since the press and state, with
/// accept and clear buttons. Plain HTML and JavaScript, no framework, no external resources (control rooms are
/// often offline); it polls `GET /v1/alerts` every second and redraws without reloading.
enum OperatorPage {
    static let html = #"""
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <title>PanicBridge control room</title>
        <style>
          body { font-family: system-ui, sans-serif; margin: 1.5em; }
          table { border-collapse: collapse; width: 100%; }
          th, td { border-bottom: 1px solid #ccc; padding: 0.4em; text-align: left; }
          tr.open td.state { color: #b00; font-weight: bold; }
          tr.acknowledged td.state { color: #a60; }
          tr.cleared td.state { color: #070; }
          #status { color: #666; font-size: 0.9em; }
        </style>
        </head>
        <body>
        <h1>Open alerts</h1>
        <p id="status">loading…</p>
        <table>
          <thead><tr><th>Kind</th><th>Device</th><th>Location</th><th>Fix age</th><th>Since press</th>
          <th>State</th><th>Actions</th></tr></thead>
          <tbody id="alerts"></tbody>
        </table>
        <h2>Devices</h2>
        <table>
          <thead><tr><th>Device</th><th>Records</th><th>Missing sequence numbers</th><th>Findings</th></tr></thead>
          <tbody id="devices"></tbody>
        </table>
        <script>
        "use strict";
        function age(ms) {
          if (ms === null || ms === undefined) return "no fix";
          const s = Math.max(0, Math.round(ms / 1000));
          if (s < 120) return s + " s";
          if (s < 7200) return Math.round(s / 60) + " min";
          return Math.round(s / 3600) + " h";
        }
        function cell(row, text, cls) {
          const td = document.createElement("td");
          td.textContent = text;
          if (cls) td.className = cls;
          row.appendChild(td);
          return td;
        }
        async function act(alert, action) {
          const url = "/v1/alerts/" + encodeURIComponent(alert.device) + "/" + encodeURIComponent(alert.id) + "/" + action;
          const response = await fetch(url, { method: "POST" });
          if (!response.ok) document.getElementById("status").textContent = action + " failed: " + await response.text();
          refresh();
        }
        function stateText(alert) {
          if (alert.state === "acknowledged") return "help on the way";
          if (alert.state === "cleared") return alert.deviceCleared ? "cleared" : "cleared (waiting for the box)";
          return "OPEN";
        }
        async function refresh() {
          try {
            const alerts = await (await fetch("/v1/alerts", { cache: "no-store" })).json();
            const body = document.getElementById("alerts");
            body.replaceChildren();
            for (const alert of alerts) {
              const row = document.createElement("tr");
              row.className = alert.state;
              row.dataset.alert = alert.id;
              cell(row, alert.kind);
              cell(row, alert.device);
              const place = alert.latitude === null || alert.latitude === undefined ? "unknown"
                : alert.latitude.toFixed(5) + ", " + alert.longitude.toFixed(5);
              cell(row, place);
              cell(row, age(alert.fixAgeMs));
              cell(row, age(alert.sincePressMs));
              cell(row, stateText(alert), "state");
              const actions = cell(row, "");
              if (alert.state === "open") {
                const accept = document.createElement("button");
                accept.textContent = "Accept";
                accept.className = "accept";
                accept.onclick = () => act(alert, "accept");
                actions.appendChild(accept);
              }
              if (alert.state !== "cleared") {
                const clear = document.createElement("button");
                clear.textContent = "Clear";
                clear.className = "clear";
                clear.onclick = () => act(alert, "clear");
                actions.appendChild(clear);
              }
              body.appendChild(row);
            }
            const devices = await (await fetch("/v1/devices", { cache: "no-store" })).json();
            const deviceBody = document.getElementById("devices");
            deviceBody.replaceChildren();
            for (const device of devices) {
              const row = document.createElement("tr");
              cell(row, device.id);
              cell(row, String(device.records));
              cell(row, device.gaps.length ? device.gaps.join(", ") : "none");
              cell(row, device.findings.length ? device.findings.join(", ") : "none");
              deviceBody.appendChild(row);
            }
            document.getElementById("status").textContent =
              alerts.length + " open alert(s), updated " + new Date().toLocaleTimeString();
          } catch (error) {
            document.getElementById("status").textContent = "cannot reach the control room: " + error;
          }
        }
        refresh();
        setInterval(refresh, 1000);
        </script>
        </body>
        </html>
        """#
}

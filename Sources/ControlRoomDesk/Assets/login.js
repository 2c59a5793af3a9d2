document.getElementById('login').addEventListener('submit', async (event) => {
  event.preventDefault();
  const body = JSON.stringify({name: document.getElementById('name').value,
                               password: document.getElementById('password').value});
  const answer = await fetch('/v1/session', {method: 'POST', headers: {'Content-Type': 'application/json'},
                                             body, credentials: 'same-origin'});
  if (answer.ok) { location.href = '/'; return; }
  const text = await answer.text();
  let message = text;
  try { const parsed = JSON.parse(text); message = parsed.error.message || parsed.error; } catch (e) {}
  document.getElementById('error').textContent = message;
});

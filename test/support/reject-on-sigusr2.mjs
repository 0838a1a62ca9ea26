// Preloaded into an onair process by a test (node --import): on SIGUSR2 it leaves a promise
// rejection unhandled, as a bug somewhere in the server would, so the test can see what the
// process does with it.
process.on('SIGUSR2', () => {
  void Promise.reject(new Error('a rejection nobody handles (test)'));
});

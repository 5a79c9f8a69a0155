package main

// replay is the clip runner: the real gate. simulate (detector, hangover,
// barrier stand-in) stays for -sim, to tell detector changes from gate
// behaviour.
var replay replayFunc = replayGate

package main

// replay is the clip runner in use: the detector simulation until package
// gate builds.
var replay replayFunc = simulate

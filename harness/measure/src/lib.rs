//! Performance measurement following MLPerf LoadGen rules: SingleStream, Offline and Server scenarios, percentiles with early stopping, hardware profiles, machine capture.

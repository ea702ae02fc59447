//! Hardware profiles: which device a backend runs on and how many CPU threads it may use.

use serde::{Deserialize, Serialize};

/// Where inference runs: the backends' own device type, so a profile's device is passed to
/// `Backend::load` as it is.
pub use harness_types::Device;

/// A named hardware configuration for a benchmark run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    pub name: String,
    /// CPU threads the backend may use (intra-op threads). For `gpu`, the host threads left to
    /// the backend's CPU-side work: all logical CPUs.
    pub threads: usize,
    pub device: Device,
}

impl Profile {
    /// A warning when this CPU profile asks for more threads than this machine has logical CPUs
    /// (a suite written for a larger server, `cpu-99threads` on a laptop): the threads then take
    /// turns on the cores, and the figures measure that contention rather than the model.
    #[must_use]
    pub fn oversubscription(&self) -> Option<String> {
        self.oversubscription_on(logical_cpus())
    }

    fn oversubscription_on(&self, cpus: usize) -> Option<String> {
        (self.device == Device::Cpu && self.threads > cpus).then(|| {
            format!(
                "profile {}: {} threads on {cpus} logical CPU(s): the threads take turns on the cores, so its figures measure that contention, not the model (run it on a machine with {} CPUs, or use cpu-all)",
                self.name, self.threads, self.threads
            )
        })
    }
}

/// Names accepted by [`profile`], for help texts and error messages.
pub const KNOWN_PROFILES: &[&str] = &["cpu-1thread", "cpu-all", "gpu", "cpu-<N>threads"];

/// An unknown or malformed profile name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown hardware profile `{name}`: {why}; known profiles: {}", KNOWN_PROFILES.join(", "))]
pub struct ProfileError {
    pub name: String,
    pub why: String,
}

/// Logical CPUs available to this process (`std::thread::available_parallelism`, which honours
/// affinity masks and cgroup quotas); 1 if unknown.
pub fn logical_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Looks up a profile: `cpu-1thread`, `cpu-all` (every logical CPU), `gpu` (CUDA), or
/// `cpu-<N>threads` for any `N ≥ 1` (`cpu-1threads` is accepted as a synonym of `cpu-1thread`).
pub fn profile(name: &str) -> Result<Profile, ProfileError> {
    let make = |threads, device| Profile {
        name: name.to_string(),
        threads,
        device,
    };
    match name {
        "cpu-1thread" => return Ok(make(1, Device::Cpu)),
        "cpu-all" => return Ok(make(logical_cpus(), Device::Cpu)),
        "gpu" => return Ok(make(logical_cpus(), Device::Cuda)),
        _ => {}
    }
    let err = |why: String| ProfileError {
        name: name.to_string(),
        why,
    };
    let Some(n) = name
        .strip_prefix("cpu-")
        .and_then(|s| s.strip_suffix("threads"))
    else {
        return Err(err(
            "not one of the built-in names or the form cpu-<N>threads".into(),
        ));
    };
    match n.parse::<usize>() {
        Ok(0) => Err(err("the thread count must be at least 1".into())),
        Ok(threads) => Ok(make(threads, Device::Cpu)),
        Err(_) => Err(err(format!("`{n}` is not a whole number of threads"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn more_threads_than_cpus_is_warned_and_a_gpu_or_a_fitting_profile_is_not() {
        let p = profile("cpu-99threads").unwrap();
        let w = p.oversubscription_on(16).unwrap();
        assert!(
            w.starts_with("profile cpu-99threads: 99 threads on 16 logical CPU(s)"),
            "{w}"
        );
        assert_eq!(p.oversubscription_on(99), None);
        assert_eq!(profile("gpu").unwrap().oversubscription_on(1), None);
        assert_eq!(profile("cpu-all").unwrap().oversubscription(), None);
    }

    #[test]
    fn builtin_and_numbered_profiles() {
        let p = profile("cpu-1thread").unwrap();
        assert_eq!((p.threads, p.device), (1, Device::Cpu));
        let all = profile("cpu-all").unwrap();
        assert_eq!(all.threads, logical_cpus());
        assert!(all.threads >= 1);
        assert_eq!(profile("gpu").unwrap().device, Device::Cuda);
        let p = profile("cpu-8threads").unwrap();
        assert_eq!(
            (p.name.as_str(), p.threads, p.device),
            ("cpu-8threads", 8, Device::Cpu)
        );
        assert_eq!(profile("cpu-1threads").unwrap().threads, 1);
    }

    #[test]
    fn bad_profiles_list_the_known_names() {
        for bad in [
            "tpu",
            "cpu-0threads",
            "cpu-xthreads",
            "cpu-threads",
            "cpu--2threads",
            "",
        ] {
            let e = profile(bad).unwrap_err();
            let msg = e.to_string();
            assert!(
                msg.contains(&format!("`{bad}`")) && msg.contains("cpu-all, gpu"),
                "{msg}"
            );
        }
        assert!(
            profile("cpu-0threads")
                .unwrap_err()
                .why
                .contains("at least 1")
        );
    }

    #[test]
    fn profile_serialises_device_lowercase() {
        let json = serde_json::to_string(&profile("gpu").unwrap()).unwrap();
        assert!(json.contains("\"device\":\"cuda\""));
    }
}

//! What machine a benchmark ran on: CPU, memory, OS, kernel and NVIDIA GPUs.
//!
//! Read from `/proc/cpuinfo`, `/proc/meminfo`, `/proc/sys/kernel/osrelease` and
//! `/etc/os-release` on Linux (the fields MLPerf submissions' `system_desc` asks for); on other
//! systems, or when a file is missing, the field is `null` and a note says so. Never panics.
//! GPUs come from `nvidia-smi --query-gpu=name,driver_version,memory.total
//! --format=csv,noheader,nounits`, run with fixed arguments (no shell) only when it is on `PATH`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

/// One GPU as `nvidia-smi` reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gpu {
    pub name: String,
    pub driver: Option<String>,
    pub memory_mib: Option<u64>,
}

/// The machine a report was produced on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Machine {
    pub cpu_model: Option<String>,
    /// Logical CPUs available to this process (affinity and cgroup limits applied).
    pub logical_cpus: usize,
    /// Distinct (physical id, core id) pairs in `/proc/cpuinfo`.
    pub physical_cores: Option<usize>,
    /// `MemTotal` from `/proc/meminfo`.
    pub memory_bytes: Option<u64>,
    /// `PRETTY_NAME` from `/etc/os-release`.
    pub os: Option<String>,
    pub kernel: Option<String>,
    pub arch: String,
    pub gpus: Vec<Gpu>,
    /// What could not be read, and why.
    pub notes: Vec<String>,
}

impl Machine {
    /// Captures the current machine.
    pub fn capture() -> Machine {
        let mut notes = Vec::new();
        let mut read = |path: &str| match std::fs::read_to_string(path) {
            Ok(s) => Some(s),
            Err(e) => {
                notes.push(format!("could not read {path}: {e}"));
                None
            }
        };
        let cpuinfo = read("/proc/cpuinfo");
        let meminfo = read("/proc/meminfo");
        let os_release = read("/etc/os-release");
        let kernel = read("/proc/sys/kernel/osrelease").map(|s| s.trim().to_string());
        let (gpus, gpu_note) = capture_gpus();
        notes.extend(gpu_note);
        Machine {
            cpu_model: cpuinfo.as_deref().and_then(parse_cpu_model),
            logical_cpus: crate::profile::logical_cpus(),
            physical_cores: cpuinfo.as_deref().and_then(parse_physical_cores),
            memory_bytes: meminfo.as_deref().and_then(parse_mem_total),
            os: os_release.as_deref().and_then(parse_pretty_name),
            kernel: kernel.filter(|k| !k.is_empty()),
            arch: std::env::consts::ARCH.to_string(),
            gpus,
            notes,
        }
    }
}

fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let (k, v) = line.split_once(':')?;
    (k.trim() == key).then(|| v.trim())
}

/// `model name` (x86) or, failing that, `Hardware`/`Processor` (some ARM kernels).
fn parse_cpu_model(cpuinfo: &str) -> Option<String> {
    ["model name", "Hardware", "Processor"]
        .iter()
        .find_map(|key| {
            cpuinfo
                .lines()
                .find_map(|l| field(l, key))
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        })
}

fn parse_physical_cores(cpuinfo: &str) -> Option<usize> {
    let mut cores = BTreeSet::new();
    let mut physical: Option<&str> = None;
    for line in cpuinfo.lines() {
        if let Some(p) = field(line, "physical id") {
            physical = Some(p);
        } else if let Some(c) = field(line, "core id") {
            cores.insert((physical.unwrap_or("0").to_string(), c.to_string()));
        } else if line.trim().is_empty() {
            physical = None;
        }
    }
    (!cores.is_empty()).then_some(cores.len())
}

/// The memory this process may use: the machine's (`MemTotal` of `/proc/meminfo`), or the
/// control group's limit where that is lower (a Kubernetes pod's, a Slurm job's `--mem`:
/// cgroup v2 `memory.max`, v1 `memory.limit_in_bytes`); `None` where neither can be read.
#[must_use]
pub fn memory_limit() -> Option<u64> {
    let total = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .as_deref()
        .and_then(parse_mem_total);
    let group = [
        "/sys/fs/cgroup/memory.max",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    ]
    .iter()
    .find_map(|p| parse_cgroup_limit(&std::fs::read_to_string(p).ok()?));
    match (total, group) {
        (Some(t), Some(g)) => Some(t.min(g)),
        (t, g) => t.or(g),
    }
}

/// A control group's memory limit in bytes; `None` for `max` (no limit) or what is not a
/// number.
fn parse_cgroup_limit(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

fn parse_mem_total(meminfo: &str) -> Option<u64> {
    let v = meminfo.lines().find_map(|l| field(l, "MemTotal"))?;
    let kib: u64 = v.strip_suffix("kB").unwrap_or(v).trim().parse().ok()?;
    kib.checked_mul(1024)
}

fn parse_pretty_name(os_release: &str) -> Option<String> {
    os_release.lines().find_map(|l| {
        let v = l.trim().strip_prefix("PRETTY_NAME=")?;
        let v = v.trim().trim_matches('"').trim_matches('\'');
        (!v.is_empty()).then(|| v.to_string())
    })
}

fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| is_executable(p))
}

#[cfg(unix)]
fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(p: &Path) -> bool {
    p.is_file()
}

/// Parses `nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader,nounits`
/// output: one `name, driver, MiB` line per GPU. Fields nvidia-smi cannot fill (`[N/A]`) become
/// `null`; lines without a name are skipped.
pub fn parse_nvidia_smi(out: &str) -> Vec<Gpu> {
    out.lines()
        .filter_map(|line| {
            // The name may itself contain commas in principle, so take the last two fields.
            let mut parts = line.rsplitn(3, ',').map(str::trim);
            let memory = parts.next()?;
            let driver = parts.next()?;
            let name = parts.next()?;
            if name.is_empty() {
                return None;
            }
            let known = |s: &str| (!s.is_empty() && !s.starts_with('[')).then(|| s.to_string());
            Some(Gpu {
                name: name.to_string(),
                driver: known(driver),
                memory_mib: memory.parse().ok(),
            })
        })
        .collect()
}

fn capture_gpus() -> (Vec<Gpu>, Option<String>) {
    let Some(smi) = find_on_path("nvidia-smi") else {
        return (
            Vec::new(),
            Some("nvidia-smi not on PATH; no NVIDIA GPUs recorded".into()),
        );
    };
    let out = Command::new(&smi)
        .args([
            "--query-gpu=name,driver_version,memory.total",
            "--format=csv,noheader,nounits",
        ])
        .output();
    match out {
        Ok(o) if o.status.success() => {
            let gpus = parse_nvidia_smi(&String::from_utf8_lossy(&o.stdout));
            let note = gpus
                .is_empty()
                .then(|| "nvidia-smi listed no GPUs".to_string());
            (gpus, note)
        }
        Ok(o) => (
            Vec::new(),
            Some(format!(
                "{} exited with {}: {}",
                smi.display(),
                o.status,
                String::from_utf8_lossy(&o.stderr).trim()
            )),
        ),
        Err(e) => (
            Vec::new(),
            Some(format!("could not run {}: {e}", smi.display())),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_does_not_panic_and_serialises() {
        let m = Machine::capture();
        assert!(m.logical_cpus >= 1);
        assert!(!m.arch.is_empty());
        let json = serde_json::to_string(&m).unwrap();
        let back: Machine = serde_json::from_str(&json).unwrap();
        assert_eq!(back, m);
        if cfg!(target_os = "linux") {
            assert!(m.memory_bytes.is_some_and(|b| b > 0) && m.kernel.is_some());
        }
    }

    #[test]
    fn parses_proc_files() {
        let cpuinfo = "processor\t: 0\nmodel name\t: AMD EPYC 7B13\nphysical id\t: 0\ncore id\t\t: 0\n\n\
                       processor\t: 1\nmodel name\t: AMD EPYC 7B13\nphysical id\t: 0\ncore id\t\t: 0\n\n\
                       processor\t: 2\nmodel name\t: AMD EPYC 7B13\nphysical id\t: 1\ncore id\t\t: 0\n";
        assert_eq!(parse_cpu_model(cpuinfo).as_deref(), Some("AMD EPYC 7B13"));
        assert_eq!(parse_physical_cores(cpuinfo), Some(2));
        assert_eq!(parse_physical_cores("processor : 0\n"), None);
        assert_eq!(
            parse_cpu_model("processor : 0\nHardware : BCM2835\n").as_deref(),
            Some("BCM2835")
        );
        assert_eq!(
            parse_mem_total("MemFree: 1 kB\nMemTotal:       24684096 kB\n"),
            Some(24_684_096 * 1024)
        );
        assert_eq!(parse_mem_total("MemTotal: lots kB\n"), None);
        // A control group's limit: bytes, or "max" for none.
        assert_eq!(parse_cgroup_limit("8589934592\n"), Some(8_589_934_592));
        assert_eq!(parse_cgroup_limit("max\n"), None);
        assert_eq!(
            parse_pretty_name("NAME=\"Debian\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n")
                .as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
        assert_eq!(parse_pretty_name("NAME=x\n"), None);
    }

    #[test]
    fn parses_nvidia_smi_lines() {
        let out =
            "NVIDIA H100 80GB HBM3, 550.54.15, 81559\nTesla T4, [N/A], [N/A]\n, 1, 2\ngarbage\n";
        let gpus = parse_nvidia_smi(out);
        assert_eq!(gpus.len(), 2);
        assert_eq!(
            gpus[0],
            Gpu {
                name: "NVIDIA H100 80GB HBM3".into(),
                driver: Some("550.54.15".into()),
                memory_mib: Some(81559)
            }
        );
        assert_eq!(
            gpus[1],
            Gpu {
                name: "Tesla T4".into(),
                driver: None,
                memory_mib: None
            }
        );
    }
}

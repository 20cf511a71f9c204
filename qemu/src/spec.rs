//! What a guest runs as: [`VmSpec`] (a guest's configuration resolved to files and devices) and
//! the QEMU command line built from it. Pure: no processes, no files.

use std::path::{Path, PathBuf};

/// Disk buses as PVE names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bus {
    Virtio,
    Scsi,
    Sata,
    Ide,
}

impl Bus {
    pub fn parse(key: &str) -> Option<(Bus, u32)> {
        let (bus, n) = [("virtio", Bus::Virtio), ("scsi", Bus::Scsi), ("sata", Bus::Sata), ("ide", Bus::Ide)]
            .into_iter()
            .find_map(|(p, b)| key.strip_prefix(p).map(|n| (b, n)))?;
        Some((bus, n.parse().ok()?))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Disk {
    /// `scsi0`, `virtio1`…
    pub key: String,
    /// A local path or an `nfs://server/export/…` URL.
    pub file: String,
    /// `raw`, `qcow2`, `vmdk`.
    pub format: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Nic {
    /// `net0`…
    pub key: String,
    /// `virtio`, `e1000`, `rtl8139`.
    pub model: String,
    pub mac: String,
    pub bridge: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VmSpec {
    pub vmid: u32,
    pub name: String,
    pub memory_mib: u64,
    pub sockets: u32,
    pub cores: u32,
    /// Hardware virtualisation (PVE's `kvm: 1`); otherwise TCG.
    pub kvm: bool,
    pub disks: Vec<Disk>,
    pub nics: Vec<Nic>,
    /// `serial0: socket`: a console socket (and a log of what the guest printed).
    pub serial: bool,
    /// Extra arguments (PVE's `args`, root only), split like a shell would for simple cases.
    pub args: Vec<String>,
    /// Wait for an incoming live migration on this URI (`unix:<path>`) instead of booting.
    pub incoming: Option<String>,
}

/// Where a running guest's files are: pid file, QMP socket, serial console socket and log.
#[derive(Debug, Clone)]
pub struct RunDir(pub PathBuf);

impl RunDir {
    pub fn pid_file(&self, vmid: u32) -> PathBuf {
        self.0.join(format!("{vmid}.pid"))
    }
    pub fn qmp(&self, vmid: u32) -> PathBuf {
        self.0.join(format!("{vmid}.qmp"))
    }
    pub fn serial(&self, vmid: u32) -> PathBuf {
        self.0.join(format!("{vmid}.serial"))
    }
    pub fn serial_log(&self, vmid: u32) -> PathBuf {
        self.0.join(format!("{vmid}.serial.log"))
    }
    pub fn error_log(&self, vmid: u32) -> PathBuf {
        self.0.join(format!("{vmid}.err"))
    }
    /// Where an incoming migration's QEMU listens.
    pub fn migrate_in(&self, vmid: u32) -> PathBuf {
        self.0.join(format!("{vmid}.migrate"))
    }
    /// The local end of the tunnel an outgoing migration writes to.
    pub fn migrate_out(&self, vmid: u32) -> PathBuf {
        self.0.join(format!("{vmid}.migrate-out"))
    }
}

/// The tap device PVE names for a guest's NIC: `tap<vmid>i<n>`.
pub fn tap_name(vmid: u32, key: &str) -> String {
    format!("tap{vmid}i{}", key.trim_start_matches("net"))
}

fn path(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// The QEMU command line (without the program): daemonized, so QEMU outlives the daemon that
/// started it, with its pid file and QMP socket in `run`.
pub fn command_line(spec: &VmSpec, run: &RunDir) -> Vec<String> {
    let id = spec.vmid;
    let mut a: Vec<String> = Vec::new();
    let mut push = |items: &[&str]| a.extend(items.iter().map(|s| s.to_string()));
    push(&["-name", &format!("{},debug-threads=on", spec.name.replace(',', ",,"))]);
    push(&["-nodefaults", "-no-user-config", "-display", "none", "-daemonize"]);
    push(&["-pidfile", &path(&run.pid_file(id))]);
    push(&["-qmp", &format!("unix:{},server=on,wait=off", path(&run.qmp(id)))]);
    if spec.kvm {
        push(&["-accel", "kvm"]);
    } else {
        // TCG's translation cache defaults to 1 GiB of RSS; 32 MiB is plenty for a server guest.
        push(&["-accel", "tcg,tb-size=32"]);
    }
    push(&["-machine", "pc"]);
    push(&["-m", &spec.memory_mib.to_string()]);
    let cpus = spec.sockets * spec.cores;
    push(&["-smp", &format!("{cpus},sockets={},cores={},maxcpus={cpus}", spec.sockets, spec.cores)]);
    if spec.serial {
        let chardev = format!("socket,id=serial0,path={},server=on,wait=off,logfile={}", path(&run.serial(id)), path(&run.serial_log(id)));
        push(&["-chardev", &chardev, "-serial", "chardev:serial0"]);
    }
    let mut scsi = false;
    let mut sata = false;
    for disk in &spec.disks {
        let Some((bus, n)) = Bus::parse(&disk.key) else { continue };
        let drive = format!("drive-{}", disk.key);
        push(&["-drive", &format!("file={},if=none,id={drive},format={},cache=none,aio=threads", disk.file.replace(',', ",,"), disk.format)]);
        let device = match bus {
            Bus::Virtio => format!("virtio-blk-pci,drive={drive},id={}", disk.key),
            Bus::Scsi => {
                if !scsi {
                    push(&["-device", "virtio-scsi-pci,id=scsihw0"]);
                    scsi = true;
                }
                format!("scsi-hd,bus=scsihw0.0,scsi-id={n},drive={drive},id={}", disk.key)
            }
            Bus::Sata => {
                if !sata {
                    push(&["-device", "ahci,id=ahci0"]);
                    sata = true;
                }
                format!("ide-hd,bus=ahci0.{n},drive={drive},id={}", disk.key)
            }
            Bus::Ide => format!("ide-hd,bus=ide.{},unit={},drive={drive},id={}", n / 2, n % 2, disk.key),
        };
        push(&["-device", &device]);
    }
    for nic in &spec.nics {
        let model = match nic.model.as_str() {
            "virtio" => "virtio-net-pci",
            other => other,
        };
        push(&["-netdev", &format!("tap,id={},ifname={},script=no,downscript=no", nic.key, tap_name(id, &nic.key))]);
        push(&["-device", &format!("{model},netdev={},mac={},id={}", nic.key, nic.mac, nic.key)]);
    }
    a.extend(spec.args.iter().cloned());
    if let Some(uri) = &spec.incoming {
        a.extend(["-incoming".to_string(), uri.clone()]);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> VmSpec {
        VmSpec {
            vmid: 100,
            name: "web".into(),
            memory_mib: 512,
            sockets: 1,
            cores: 2,
            kvm: false,
            disks: vec![
                Disk { key: "scsi0".into(), file: "nfs://10.0.0.4/export/images/100/vm-100-disk-0.qcow2".into(), format: "qcow2".into() },
                Disk { key: "virtio1".into(), file: "/var/lib/corral/local/images/100/vm-100-disk-1.raw".into(), format: "raw".into() },
            ],
            nics: vec![Nic { key: "net0".into(), model: "virtio".into(), mac: "BC:24:11:00:00:01".into(), bridge: "vmbr0".into() }],
            serial: true,
            args: vec![],
            incoming: None,
        }
    }

    #[test]
    fn the_command_line_names_every_device() {
        let run = RunDir("/run/corral/qemu".into());
        let line = command_line(&spec(), &run).join(" ");
        for part in [
            "-daemonize",
            "-pidfile /run/corral/qemu/100.pid",
            "-qmp unix:/run/corral/qemu/100.qmp,server=on,wait=off",
            "-accel tcg,tb-size=32",
            "-smp 2,sockets=1,cores=2,maxcpus=2",
            "-device virtio-scsi-pci,id=scsihw0",
            "file=nfs://10.0.0.4/export/images/100/vm-100-disk-0.qcow2,if=none,id=drive-scsi0,format=qcow2",
            "scsi-hd,bus=scsihw0.0,scsi-id=0,drive=drive-scsi0",
            "virtio-blk-pci,drive=drive-virtio1",
            "tap,id=net0,ifname=tap100i0,script=no,downscript=no",
            "virtio-net-pci,netdev=net0,mac=BC:24:11:00:00:01",
            "-serial chardev:serial0",
        ] {
            assert!(line.contains(part), "{part:?} missing in {line}");
        }
    }

    #[test]
    fn kvm_guests_ask_for_kvm() {
        let line = command_line(&VmSpec { kvm: true, ..spec() }, &RunDir("/r".into())).join(" ");
        assert!(line.contains("-accel kvm") && !line.contains("tcg"));
    }

    #[test]
    fn buses_parse_from_keys() {
        assert_eq!(Bus::parse("scsi3"), Some((Bus::Scsi, 3)));
        assert_eq!(Bus::parse("sata0"), Some((Bus::Sata, 0)));
        assert_eq!(Bus::parse("net0"), None);
        assert_eq!(Bus::parse("virtio"), None);
    }
}

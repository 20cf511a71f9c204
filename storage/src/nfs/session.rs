//! One mounted NFSv3 export: the RPC connection to the server's NFS service and the export's
//! root file handle, with the handful of calls corral needs (paths, directories, files,
//! FSSTAT). Nothing here waits without bound on its own: callers run it under a deadline and
//! drop the session after any failure, since a call cut off mid-way leaves the stream unusable.

use std::net::{IpAddr, SocketAddr};

use nfs3_client::nfs3_types::nfs3::*;
use nfs3_client::nfs3_types::rpc::{auth_unix, opaque_auth};
use nfs3_client::nfs3_types::xdr_codec::Opaque;
use nfs3_client::{Nfs3Client, Nfs3ConnectionBuilder};

use super::stream::{BoundedConnector, RpcStream};
use crate::{Result, StorageError};

/// Entries of one directory corral reads at most (a guest's images, ISO files…).
const MAX_DIR_ENTRIES: usize = 100_000;
/// Bytes per WRITE / READ call.
const IO_CHUNK: usize = 64 * 1024;

pub struct Session {
    client: Nfs3Client<RpcStream>,
    root: nfs_fh3,
}

/// A file or directory as READDIRPLUS / LOOKUP describe it.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    pub is_dir: bool,
    pub size: u64,
    pub used: u64,
    pub ctime: u64,
    pub handle: Option<nfs_fh3>,
}

fn nfs_error(what: &str, status: nfsstat3) -> StorageError {
    match status {
        nfsstat3::NFS3ERR_NOENT => StorageError::NoSuchVolume(what.to_string()),
        nfsstat3::NFS3ERR_EXIST => StorageError::Exists(format!("{what}: already exists")),
        other => StorageError::Nfs(format!("{what}: {other:?}")),
    }
}

fn rpc_error(what: &str, err: impl std::fmt::Display) -> StorageError {
    StorageError::Nfs(format!("{what}: {err}"))
}

/// AUTH_UNIX as root (PVE's kernel mounts act as root, and exports for PVE use no_root_squash).
pub fn credential(machine: &str) -> opaque_auth<'static> {
    opaque_auth::auth_unix(&auth_unix { machinename: Opaque::owned(machine.as_bytes().to_vec()), ..Default::default() })
}

/// Resolve `server` (an address or a host name) to one address.
pub async fn resolve(server: &str) -> Result<IpAddr> {
    if let Ok(ip) = server.parse::<IpAddr>() {
        return Ok(ip);
    }
    let mut addrs = tokio::net::lookup_host((server, 0)).await.map_err(|e| StorageError::Nfs(format!("cannot resolve '{server}': {e}")))?;
    addrs.next().map(|a: SocketAddr| a.ip()).ok_or_else(|| StorageError::Nfs(format!("cannot resolve '{server}'")))
}

/// Whether corral may bind privileged source ports (root, or CAP_NET_BIND_SERVICE).
pub fn privileged() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

impl Session {
    pub async fn mount(server: IpAddr, export: &str, machine: &str) -> Result<Self> {
        let connection = Nfs3ConnectionBuilder::new(BoundedConnector, server.to_string(), export)
            .connect_from_privileged_port(privileged())
            .credential(credential(machine))
            .mount()
            .await
            .map_err(|e| StorageError::Nfs(format!("mount {server}:{export}: {e}")))?;
        let root = connection.root_nfs_fh3();
        Ok(Self { client: connection.into_nfs3_client(), root })
    }

    pub fn root(&self) -> nfs_fh3 {
        self.root.clone()
    }

    /// total, free, available bytes of the exported filesystem.
    pub async fn fsstat(&mut self) -> Result<(u64, u64, u64)> {
        match self.client.fsstat(&FSSTAT3args { fsroot: self.root.clone() }).await.map_err(|e| rpc_error("FSSTAT", e))? {
            Nfs3Result::Ok(ok) => Ok((ok.tbytes, ok.fbytes, ok.abytes)),
            Nfs3Result::Err((status, _)) => Err(nfs_error("FSSTAT", status)),
        }
    }

    pub async fn lookup(&mut self, dir: &nfs_fh3, name: &str) -> Result<(nfs_fh3, Option<fattr3>)> {
        let args = LOOKUP3args { what: diropargs3 { dir: dir.clone(), name: name.as_bytes().into() } };
        match self.client.lookup(&args).await.map_err(|e| rpc_error("LOOKUP", e))? {
            Nfs3Result::Ok(ok) => Ok((ok.object, option(ok.obj_attributes))),
            Nfs3Result::Err((status, _)) => Err(nfs_error(name, status)),
        }
    }

    /// The handle of `path` (`a/b/c`, relative to the export's root).
    pub async fn lookup_path(&mut self, path: &str) -> Result<nfs_fh3> {
        let mut handle = self.root();
        for part in path.split('/').filter(|p| !p.is_empty()) {
            handle = self.lookup(&handle, part).await.map_err(|e| match e {
                StorageError::NoSuchVolume(_) => StorageError::NoSuchVolume(path.to_string()),
                other => other,
            })?.0;
        }
        Ok(handle)
    }

    /// Create every directory of `path` that does not exist yet; the handle of the last.
    pub async fn mkdir_p(&mut self, path: &str) -> Result<nfs_fh3> {
        let mut handle = self.root();
        for part in path.split('/').filter(|p| !p.is_empty()) {
            let args = MKDIR3args {
                where_: diropargs3 { dir: handle.clone(), name: part.as_bytes().into() },
                attributes: sattr3 { mode: Nfs3Option::Some(0o755), ..Default::default() },
            };
            handle = match self.client.mkdir(&args).await.map_err(|e| rpc_error("MKDIR", e))? {
                Nfs3Result::Ok(MKDIR3resok { obj: Nfs3Option::Some(fh), .. }) => fh,
                Nfs3Result::Ok(_) | Nfs3Result::Err((nfsstat3::NFS3ERR_EXIST, _)) => self.lookup(&handle, part).await?.0,
                Nfs3Result::Err((status, _)) => return Err(nfs_error(&format!("mkdir {path}"), status)),
            };
        }
        Ok(handle)
    }

    /// Everything in a directory but `.` and `..`, with attributes.
    pub async fn list(&mut self, dir: &nfs_fh3) -> Result<Vec<Entry>> {
        let mut out = Vec::new();
        let (mut cookie, mut verifier) = (0, cookieverf3::default());
        loop {
            let args = READDIRPLUS3args { dir: dir.clone(), cookie, cookieverf: verifier, dircount: 16 * 1024, maxcount: 256 * 1024 };
            let reply = match self.client.readdirplus(&args).await.map_err(|e| rpc_error("READDIRPLUS", e))? {
                Nfs3Result::Ok(ok) => ok,
                Nfs3Result::Err((status, _)) => return Err(nfs_error("READDIRPLUS", status)),
            };
            verifier = reply.cookieverf;
            let eof = reply.reply.eof;
            let entries = reply.reply.entries.into_inner();
            if entries.is_empty() && !eof {
                return Err(StorageError::Nfs("READDIRPLUS: the server returned no entries and no end".into()));
            }
            for e in entries {
                cookie = e.cookie;
                let name = String::from_utf8_lossy(e.name.as_ref()).into_owned();
                if name == "." || name == ".." {
                    continue;
                }
                let attrs = option(e.name_attributes);
                out.push(Entry {
                    name,
                    is_dir: attrs.as_ref().is_some_and(|a| a.type_ == ftype3::NF3DIR),
                    size: attrs.as_ref().map_or(0, |a| a.size),
                    used: attrs.as_ref().map_or(0, |a| a.used),
                    ctime: attrs.as_ref().map_or(0, |a| u64::from(a.ctime.seconds)),
                    handle: option(e.name_handle),
                });
                if out.len() > MAX_DIR_ENTRIES {
                    return Err(StorageError::Nfs(format!("directory has more than {MAX_DIR_ENTRIES} entries")));
                }
            }
            if eof {
                return Ok(out);
            }
        }
    }

    /// Create a new, empty file; fails if it exists.
    pub async fn create_new(&mut self, dir: &nfs_fh3, name: &str) -> Result<nfs_fh3> {
        let args = CREATE3args {
            where_: diropargs3 { dir: dir.clone(), name: name.as_bytes().into() },
            how: createhow3::GUARDED(sattr3 { mode: Nfs3Option::Some(0o640), ..Default::default() }),
        };
        match self.client.create(&args).await.map_err(|e| rpc_error("CREATE", e))? {
            Nfs3Result::Ok(CREATE3resok { obj: Nfs3Option::Some(fh), .. }) => Ok(fh),
            Nfs3Result::Ok(_) => Ok(self.lookup(dir, name).await?.0),
            Nfs3Result::Err((status, _)) => Err(nfs_error(&format!("create {name}"), status)),
        }
    }

    pub async fn set_size(&mut self, file: &nfs_fh3, size: u64) -> Result<()> {
        let args = SETATTR3args { object: file.clone(), new_attributes: sattr3 { size: Nfs3Option::Some(size), ..Default::default() }, guard: Nfs3Option::None };
        match self.client.setattr(&args).await.map_err(|e| rpc_error("SETATTR", e))? {
            Nfs3Result::Ok(_) => Ok(()),
            Nfs3Result::Err((status, _)) => Err(nfs_error("SETATTR", status)),
        }
    }

    /// Write `data` at offset 0, stable on the server when this returns.
    pub async fn write_all(&mut self, file: &nfs_fh3, data: &[u8]) -> Result<()> {
        let mut offset = 0usize;
        while offset < data.len() {
            let chunk = &data[offset..data.len().min(offset + IO_CHUNK)];
            let args = WRITE3args { file: file.clone(), offset: offset as u64, count: chunk.len() as u32, stable: stable_how::FILE_SYNC, data: Opaque::borrowed(chunk) };
            match self.client.write(&args).await.map_err(|e| rpc_error("WRITE", e))? {
                Nfs3Result::Ok(ok) if ok.count > 0 => offset += ok.count as usize,
                Nfs3Result::Ok(_) => return Err(StorageError::Nfs("WRITE: the server wrote nothing".into())),
                Nfs3Result::Err((status, _)) => return Err(nfs_error("WRITE", status)),
            }
        }
        Ok(())
    }

    /// Up to `count` bytes from `offset`.
    pub async fn read(&mut self, file: &nfs_fh3, offset: u64, count: u32) -> Result<Vec<u8>> {
        let args = READ3args { file: file.clone(), offset, count: count.min(IO_CHUNK as u32) };
        match self.client.read(&args).await.map_err(|e| rpc_error("READ", e))? {
            Nfs3Result::Ok(ok) => Ok(ok.data.to_vec()),
            Nfs3Result::Err((status, _)) => Err(nfs_error("READ", status)),
        }
    }

    pub async fn remove(&mut self, dir: &nfs_fh3, name: &str) -> Result<()> {
        let args = REMOVE3args { object: diropargs3 { dir: dir.clone(), name: name.as_bytes().into() } };
        match self.client.remove(&args).await.map_err(|e| rpc_error("REMOVE", e))? {
            Nfs3Result::Ok(_) => Ok(()),
            Nfs3Result::Err((status, _)) => Err(nfs_error(name, status)),
        }
    }

    /// Remove an empty directory; a directory that is not empty is left alone.
    pub async fn rmdir_if_empty(&mut self, dir: &nfs_fh3, name: &str) -> Result<()> {
        let args = RMDIR3args { object: diropargs3 { dir: dir.clone(), name: name.as_bytes().into() } };
        match self.client.rmdir(&args).await.map_err(|e| rpc_error("RMDIR", e))? {
            Nfs3Result::Ok(_) | Nfs3Result::Err((nfsstat3::NFS3ERR_NOTEMPTY | nfsstat3::NFS3ERR_EXIST | nfsstat3::NFS3ERR_NOENT, _)) => Ok(()),
            Nfs3Result::Err((status, _)) => Err(nfs_error(name, status)),
        }
    }
}

fn option<T: nfs3_client::nfs3_types::xdr_codec::Pack + nfs3_client::nfs3_types::xdr_codec::Unpack>(o: Nfs3Option<T>) -> Option<T> {
    match o {
        Nfs3Option::Some(v) => Some(v),
        Nfs3Option::None => None,
    }
}

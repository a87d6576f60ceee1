//! A real nginx (examples/behind_nginx/nginx.conf, ports substituted) in front of the
//! dashboard at /ops/taskdeck/, and the whole walk through it.
//!
//! Needs the `nginx` binary (Debian: `apt-get install nginx`; `scripts/test` installs it).
//! Without it the test fails saying how to get it, unless `TASKDECK_SKIP_NGINX=1` asks to skip
//! it knowingly: a walk that did not run must not look like one that passed.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use taskdeck::Dashboard;

fn nginx_binary() -> Option<PathBuf> {
    ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

struct Nginx {
    child: Child,
    binary: PathBuf,
    dir: PathBuf,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // Ask the master to stop its workers too; killing it alone would orphan them.
        let stopped = Command::new(&self.binary)
            .arg("-p")
            .arg(&self.dir)
            .args(["-c", "nginx.conf", "-s", "stop"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !stopped {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn the_walk_through_nginx() {
    let Some(nginx) = nginx_binary() else {
        assert!(
            std::env::var_os("TASKDECK_SKIP_NGINX").is_some_and(|v| v == "1"),
            "the nginx walk did not run: nginx is not installed (apt-get install nginx, or \
             scripts/test, which installs it); set TASKDECK_SKIP_NGINX=1 to skip it knowingly"
        );
        eprintln!("skipping the nginx walk (TASKDECK_SKIP_NGINX=1)");
        return;
    };
    let (s, _c) = scheduler().await;
    let dashboard = Dashboard::builder(s.clone())
        .auth(admin_login())
        .secret(b"nginx-walk-secret-0123456789abcdef!!")
        .trust_proxy(IpAddr::V4(Ipv4Addr::LOCALHOST))
        .build()
        .unwrap();
    let app = serve_dashboard(dashboard).await;

    let dir = std::env::temp_dir().join(format!("taskdeck-nginx-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("tmp")).unwrap();
    let port = free_port();
    let conf = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/behind_nginx/nginx.conf"
    ))
    .unwrap()
    .replace("127.0.0.1:8000", &app.addr.to_string())
    .replace("127.0.0.1:8080", &format!("127.0.0.1:{port}"));
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    let log = std::fs::File::create(dir.join("error.log")).unwrap();
    let child = Command::new(&nginx)
        .arg("-p")
        .arg(&dir)
        .arg("-c")
        .arg("nginx.conf")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let _guard = Nginx {
        child,
        binary: nginx,
        dir: dir.clone(),
    };
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        let errors = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
        assert!(
            tokio::time::Instant::now() < deadline,
            "nginx did not start listening within 10 s: {errors}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let srv = client_for(addr);
    Walk {
        what: "nginx /ops/taskdeck",
        srv: &srv,
        request_base: "/ops/taskdeck",
        public_base: "/ops/taskdeck",
        headers: &[],
    }
    .run(&s)
    .await;
}

//! A small synchronous rtnetlink client: the requests pier needs to manage links, addresses
//! and routes, without `ip` (each `ip` call costs a fork+exec, ~2 ms, on the container
//! start-up path).
//!
//! Messages are built with `netlink-packet-route` (the packet layer `rtnetlink` itself is built
//! on) and sent on a blocking `netlink-sys` socket: no async runtime is needed for a handful
//! of request/acknowledge exchanges. A socket talks to the network namespace of the thread
//! that opened it, so code that configures a container's namespace opens its [`Netlink`]
//! inside [`crate::netns::enter`].

use anyhow::{bail, Context, Result};
use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL,
    NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use std::io;
use std::net::{IpAddr, Ipv4Addr};

/// A blocking rtnetlink socket bound to the current thread's network namespace.
pub struct Netlink {
    socket: Socket,
    seq: u32,
}

/// An error the kernel returned for a netlink request, kept as an `io::Error` so callers can
/// match on the errno (`EEXIST`, `ENODEV`, ...).
fn kernel_error(code: i32) -> io::Error {
    io::Error::from_raw_os_error(code.abs())
}

/// True when `err` (anywhere in its chain) is the errno `errno`.
pub fn is_errno(err: &anyhow::Error, errno: i32) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .and_then(io::Error::raw_os_error)
            == Some(errno)
    })
}

impl Netlink {
    /// Opens a NETLINK_ROUTE socket in the calling thread's network namespace.
    pub fn open() -> Result<Netlink> {
        let mut socket = Socket::new(NETLINK_ROUTE).context("socket(NETLINK_ROUTE)")?;
        socket.bind_auto().context("binding the rtnetlink socket")?;
        socket
            .connect(&SocketAddr::new(0, 0))
            .context("connecting the rtnetlink socket to the kernel")?;
        Ok(Netlink { socket, seq: 0 })
    }

    /// Sends one request and collects every reply message until the kernel's ACK (or, for
    /// dumps, `NLMSG_DONE`). A negative ACK becomes an `io::Error` with the kernel's errno.
    fn exchange(
        &mut self,
        payload: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<Vec<RouteNetlinkMessage>> {
        self.seq = self.seq.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | flags;
        header.sequence_number = self.seq;
        let mut msg = NetlinkMessage::new(header, NetlinkPayload::from(payload));
        msg.finalize();
        let mut buf = vec![0u8; msg.buffer_len()];
        msg.serialize(&mut buf);
        self.socket
            .send(&buf, 0)
            .context("sending an rtnetlink request")?;

        let mut replies = Vec::new();
        loop {
            let (data, _) = self
                .socket
                .recv_from_full()
                .context("receiving an rtnetlink reply")?;
            let mut offset = 0;
            while offset < data.len() {
                let reply = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&data[offset..])
                    .context("decoding an rtnetlink reply")?;
                let len = reply.header.length as usize;
                if len == 0 {
                    bail!("rtnetlink reply with zero length");
                }
                offset += (len + 3) & !3;
                if reply.header.sequence_number != self.seq {
                    continue;
                }
                match reply.payload {
                    NetlinkPayload::Error(e) => match e.code {
                        None => return Ok(replies),
                        Some(code) => return Err(kernel_error(code.get()).into()),
                    },
                    NetlinkPayload::Done(_) => return Ok(replies),
                    NetlinkPayload::InnerMessage(inner) => replies.push(inner),
                    _ => {}
                }
            }
        }
    }

    /// Sends a request that the kernel acknowledges.
    fn request(&mut self, payload: RouteNetlinkMessage, flags: u16) -> Result<()> {
        self.exchange(payload, NLM_F_ACK | flags).map(|_| ())
    }

    /// Creates a link described by `msg` (fails with EEXIST if the name is taken).
    pub fn new_link(&mut self, msg: LinkMessage) -> Result<()> {
        self.request(RouteNetlinkMessage::NewLink(msg), NLM_F_CREATE | NLM_F_EXCL)
    }

    /// The interface called `name`, or `None` if there is none.
    pub fn link(&mut self, name: &str) -> Result<Option<LinkSummary>> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        match self.exchange(RouteNetlinkMessage::GetLink(msg), NLM_F_ACK) {
            Ok(replies) => Ok(replies.into_iter().find_map(|r| match r {
                RouteNetlinkMessage::NewLink(link) => Some(LinkSummary::from(&link)),
                _ => None,
            })),
            Err(e) if is_errno(&e, libc::ENODEV) => Ok(None),
            Err(e) => Err(e.context(format!("looking up interface {name}"))),
        }
    }

    /// The index of the interface called `name`, or `None` if there is none.
    pub fn link_index(&mut self, name: &str) -> Result<Option<u32>> {
        Ok(self.link(name)?.map(|l| l.index))
    }

    /// The index of `name`, failing if it does not exist.
    pub fn require_index(&mut self, name: &str) -> Result<u32> {
        self.link_index(name)?
            .with_context(|| format!("interface {name} does not exist"))
    }

    /// Every link in this namespace: (index, name, master index, MTU).
    pub fn links(&mut self) -> Result<Vec<LinkSummary>> {
        let replies = self
            .exchange(
                RouteNetlinkMessage::GetLink(LinkMessage::default()),
                NLM_F_DUMP,
            )
            .context("dumping interfaces")?;
        Ok(replies
            .into_iter()
            .filter_map(|r| match r {
                RouteNetlinkMessage::NewLink(link) => Some(LinkSummary::from(&link)),
                _ => None,
            })
            .collect())
    }

    /// The IPv4 routes of the main table: (destination, prefix length, output interface).
    pub fn main_routes_v4(&mut self) -> Result<Vec<(Ipv4Addr, u8, Option<u32>)>> {
        let mut req = RouteMessage::default();
        req.header.address_family = AddressFamily::Inet;
        let replies = self
            .exchange(RouteNetlinkMessage::GetRoute(req), NLM_F_DUMP)
            .context("dumping IPv4 routes")?;
        Ok(replies
            .into_iter()
            .filter_map(|r| match r {
                RouteNetlinkMessage::NewRoute(route) => Some(route),
                _ => None,
            })
            .filter(|route| {
                let table = route.attributes.iter().find_map(|a| match a {
                    RouteAttribute::Table(t) => Some(*t),
                    _ => None,
                });
                table.unwrap_or(u32::from(route.header.table))
                    == u32::from(RouteHeader::RT_TABLE_MAIN)
            })
            .map(|route| {
                let mut dst = Ipv4Addr::UNSPECIFIED;
                let mut oif = None;
                for attr in &route.attributes {
                    match attr {
                        RouteAttribute::Destination(RouteAddress::Inet(d)) => dst = *d,
                        RouteAttribute::Oif(i) => oif = Some(*i),
                        _ => {}
                    }
                }
                (dst, route.header.destination_prefix_length, oif)
            })
            .collect())
    }

    /// Brings the interface with index `index` up.
    pub fn set_up(&mut self, index: u32) -> Result<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.header.flags = LinkFlags::Up;
        msg.header.change_mask = LinkFlags::Up;
        self.request(RouteNetlinkMessage::SetLink(msg), 0)
            .with_context(|| format!("setting interface #{index} up"))
    }

    /// Sets the interface's alias (the kernel ignores an alias given at creation).
    pub fn set_alias(&mut self, index: u32, alias: &str) -> Result<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.attributes
            .push(LinkAttribute::IfAlias(alias.to_string()));
        self.request(RouteNetlinkMessage::SetLink(msg), 0)
            .with_context(|| format!("setting the alias of interface #{index}"))
    }

    /// Deletes the interface called `name`; Ok(false) if it did not exist.
    pub fn delete_link(&mut self, name: &str) -> Result<bool> {
        let Some(index) = self.link_index(name)? else {
            return Ok(false);
        };
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        match self.request(RouteNetlinkMessage::DelLink(msg), 0) {
            Ok(()) => Ok(true),
            // Deleted meanwhile (e.g. its namespace died and took the veth pair with it).
            Err(e) if is_errno(&e, libc::ENODEV) => Ok(false),
            Err(e) => Err(e.context(format!("deleting interface {name}"))),
        }
    }

    /// The IPv4 addresses (with prefix length) of interface `index`.
    pub(crate) fn addresses_v4(&mut self, index: u32) -> Result<Vec<(Ipv4Addr, u8)>> {
        let mut query = AddressMessage::default();
        query.header.family = AddressFamily::Inet;
        let replies = self
            .exchange(RouteNetlinkMessage::GetAddress(query), NLM_F_DUMP)
            .context("dumping addresses")?;
        Ok(replies
            .into_iter()
            .filter_map(|r| match r {
                RouteNetlinkMessage::NewAddress(a) if a.header.index == index => {
                    let prefix = a.header.prefix_len;
                    a.attributes.iter().find_map(|attr| match attr {
                        AddressAttribute::Local(IpAddr::V4(ip)) => Some((*ip, prefix)),
                        _ => None,
                    })
                }
                _ => None,
            })
            .collect())
    }

    /// Moves interface `index` into the network namespace open as `netns_fd` (the kernel
    /// takes it down and drops its addresses on the way).
    pub(crate) fn move_to_netns(&mut self, index: u32, netns_fd: std::os::fd::RawFd) -> Result<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.attributes.push(LinkAttribute::NetNsFd(netns_fd));
        self.request(RouteNetlinkMessage::SetLink(msg), 0)
            .with_context(|| format!("moving interface #{index} to another network namespace"))
    }

    /// Renames interface `index` (it must be down).
    pub(crate) fn rename(&mut self, index: u32, name: &str) -> Result<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        self.request(RouteNetlinkMessage::SetLink(msg), 0)
            .with_context(|| format!("renaming interface #{index} to {name}"))
    }

    /// Adds `addr/prefix` to interface `index`; an address already present is not an error.
    pub fn add_address(&mut self, index: u32, addr: Ipv4Addr, prefix: u8) -> Result<()> {
        let mut msg = AddressMessage::default();
        msg.header.family = AddressFamily::Inet;
        msg.header.prefix_len = prefix;
        msg.header.index = index;
        msg.attributes
            .push(AddressAttribute::Local(IpAddr::V4(addr)));
        msg.attributes
            .push(AddressAttribute::Address(IpAddr::V4(addr)));
        match self.request(
            RouteNetlinkMessage::NewAddress(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        ) {
            Err(e) if is_errno(&e, libc::EEXIST) => Ok(()),
            other => other.with_context(|| format!("adding {addr}/{prefix} to interface #{index}")),
        }
    }

    /// Adds the default route via `gateway`.
    pub fn add_default_route(&mut self, gateway: Ipv4Addr) -> Result<()> {
        let mut msg = RouteMessage::default();
        msg.header.address_family = AddressFamily::Inet;
        msg.header.table = RouteHeader::RT_TABLE_MAIN;
        msg.header.protocol = RouteProtocol::Boot;
        msg.header.scope = RouteScope::Universe;
        msg.header.kind = RouteType::Unicast;
        msg.attributes
            .push(RouteAttribute::Gateway(RouteAddress::Inet(gateway)));
        self.request(
            RouteNetlinkMessage::NewRoute(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        )
        .with_context(|| format!("adding the default route via {gateway}"))
    }
}

/// What pier needs to know about an existing interface.
#[derive(Debug, Clone)]
pub struct LinkSummary {
    /// Interface index.
    pub index: u32,
    /// Interface name.
    pub name: String,
    /// Index of the bridge it is enslaved to, if any.
    pub master: Option<u32>,
    /// Its MTU.
    pub mtu: Option<u32>,
    /// Its alias (`ip link set NAME alias TEXT`); pier marks its bridges with their state root.
    pub alias: Option<String>,
    /// Whether it is administratively up.
    pub up: bool,
}

impl From<&LinkMessage> for LinkSummary {
    fn from(link: &LinkMessage) -> Self {
        let mut summary = LinkSummary {
            index: link.header.index,
            name: String::new(),
            master: None,
            mtu: None,
            alias: None,
            up: link.header.flags.contains(LinkFlags::Up),
        };
        for attr in &link.attributes {
            match attr {
                LinkAttribute::IfName(n) => summary.name = n.clone(),
                LinkAttribute::Controller(m) => summary.master = Some(*m),
                LinkAttribute::Mtu(m) => summary.mtu = Some(*m),
                LinkAttribute::IfAlias(a) => summary.alias = Some(a.clone()),
                _ => {}
            }
        }
        summary
    }
}

//! A user's Unix groups (`getpwnam_r` + `getgrouplist` + `getgrgid_r`), as ocserv's PAM
//! backend reports them, and every group of the system (`getgrent_r`) for `auto-select-group`.

use std::ffi::{c_char, CStr, CString};
use std::sync::Mutex;

/// `setgrent`/`getgrent_r`/`endgrent` share one process-wide cursor: one walk at a time.
static GROUP_WALK: Mutex<()> = Mutex::new(());

/// Most groups [`all_groups`] reads (a runaway directory cannot make the list unbounded).
const MAX_LISTED_GROUPS: usize = 65_536;

/// Largest group list accepted (NGROUPS_MAX on Linux is 65536).
const MAX_GROUPS: usize = 65_536;

/// Largest buffer offered to the `get*_r` functions (their entries can be long, e.g. big
/// member lists).
const MAX_BUFFER: usize = 1 << 20;

/// The names of `username`'s groups (primary first, in the order of `getgrouplist`) whose gid
/// is at least `gid_min`; groups without a name are skipped. Empty for an unknown user.
pub fn unix_groups(username: &str, gid_min: Option<u32>) -> Vec<String> {
    let Ok(user) = CString::new(username) else {
        return Vec::new();
    };
    let Some(primary) = primary_gid(&user) else {
        return Vec::new();
    };
    let mut names = Vec::new();
    for gid in group_ids(&user, primary) {
        if gid_min.is_some_and(|min| gid < min) {
            continue;
        }
        if let Some(name) = group_name(gid) {
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    names
}

/// The names of every group of the system (`/etc/group` and any other NSS source) whose gid
/// is at least `gid_min`, sorted and without duplicates. Blocking (NSS may ask a directory).
pub fn all_groups(gid_min: Option<u32>) -> Vec<String> {
    let _walk = GROUP_WALK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut names = Vec::new();
    // SAFETY: setgrent/endgrent take no arguments; the walk is serialised by GROUP_WALK.
    unsafe { libc::setgrent() };
    while names.len() < MAX_LISTED_GROUPS {
        let Some(next) = next_group() else { break };
        if let Some((name, gid)) = next {
            if gid_min.is_none_or(|min| gid >= min) {
                names.push(name);
            }
        }
    }
    // SAFETY: as above.
    unsafe { libc::endgrent() };
    names.sort();
    names.dedup();
    names
}

/// The next entry of the group walk: `None` at the end (or on an error), `Some(None)` for an
/// entry without a usable name.
fn next_group() -> Option<Option<(String, libc::gid_t)>> {
    let mut size = 1024;
    loop {
        let mut buffer = vec![0 as c_char; size];
        // SAFETY: `group` is a plain C struct (all-zero valid); every pointer passed is valid
        // for the call and `buffer` outlives the reads of `entry` below.
        let mut entry: libc::group = unsafe { std::mem::zeroed() };
        let mut found: *mut libc::group = std::ptr::null_mut();
        let rc =
            unsafe { libc::getgrent_r(&mut entry, buffer.as_mut_ptr(), buffer.len(), &mut found) };
        if rc == libc::ERANGE && size < MAX_BUFFER {
            // glibc keeps the cursor on the entry that did not fit.
            size *= 4;
            continue;
        }
        if rc != 0 || found.is_null() {
            return None;
        }
        if entry.gr_name.is_null() {
            return Some(None);
        }
        // SAFETY: a found entry's name is a NUL-terminated string inside `buffer`.
        let name = unsafe { CStr::from_ptr(entry.gr_name) };
        return Some(name.to_str().ok().map(|n| (n.to_owned(), entry.gr_gid)));
    }
}

/// Calls a `get*_r` function with a growing buffer until it no longer reports `ERANGE`.
/// `call` returns the function's error number and whether an entry was found.
fn with_buffer<T>(mut call: impl FnMut(&mut [c_char]) -> (i32, Option<T>)) -> Option<T> {
    let mut size = 1024;
    loop {
        let mut buffer = vec![0 as c_char; size];
        match call(&mut buffer) {
            (libc::ERANGE, _) if size < MAX_BUFFER => size *= 4,
            (0, found) => return found,
            _ => return None,
        }
    }
}

fn primary_gid(user: &CStr) -> Option<libc::gid_t> {
    with_buffer(|buffer| {
        // SAFETY: `passwd` is a plain C struct (all-zero valid); every pointer passed is valid
        // for the call and `buffer` outlives the reads of `entry` below.
        let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
        let mut found: *mut libc::passwd = std::ptr::null_mut();
        let rc = unsafe {
            libc::getpwnam_r(
                user.as_ptr(),
                &mut entry,
                buffer.as_mut_ptr(),
                buffer.len(),
                &mut found,
            )
        };
        (rc, (!found.is_null()).then_some(entry.pw_gid))
    })
}

fn group_ids(user: &CStr, primary: libc::gid_t) -> Vec<libc::gid_t> {
    let mut capacity: usize = 64;
    loop {
        let mut groups = vec![0 as libc::gid_t; capacity];
        let mut count = libc::c_int::try_from(capacity).unwrap_or(libc::c_int::MAX);
        // SAFETY: `groups` has room for `count` entries; getgrouplist writes at most that
        // many and stores the needed number in `count` when it returns -1.
        let rc =
            unsafe { libc::getgrouplist(user.as_ptr(), primary, groups.as_mut_ptr(), &mut count) };
        let needed = usize::try_from(count).unwrap_or(0);
        if rc >= 0 {
            groups.truncate(needed.min(capacity));
            return groups;
        }
        if needed <= capacity || needed > MAX_GROUPS {
            return vec![primary];
        }
        capacity = needed;
    }
}

fn group_name(gid: libc::gid_t) -> Option<String> {
    with_buffer(|buffer| {
        // SAFETY: as in `primary_gid`; `gr_name` points into `buffer`, read before it drops.
        let mut entry: libc::group = unsafe { std::mem::zeroed() };
        let mut found: *mut libc::group = std::ptr::null_mut();
        let rc = unsafe {
            libc::getgrgid_r(
                gid,
                &mut entry,
                buffer.as_mut_ptr(),
                buffer.len(),
                &mut found,
            )
        };
        if found.is_null() || entry.gr_name.is_null() {
            return (rc, None);
        }
        // SAFETY: a found entry's name is a NUL-terminated string inside `buffer`.
        let name = unsafe { CStr::from_ptr(entry.gr_name) };
        (rc, name.to_str().ok().map(str::to_owned))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_in_group_root() {
        // uid 0 / gid 0 exist on every Linux system.
        let groups = unix_groups("root", None);
        assert_eq!(
            groups.first().map(String::as_str),
            Some("root"),
            "{groups:?}"
        );
        assert!(unix_groups("root", Some(1)).iter().all(|g| g != "root"));
    }

    #[test]
    fn all_groups_lists_the_system_groups_above_gid_min() {
        let all = all_groups(None);
        assert!(all.iter().any(|g| g == "root"), "{all:?}");
        assert!(all.windows(2).all(|w| w[0] < w[1]), "sorted, no duplicates");
        let high = all_groups(Some(1));
        assert!(
            !high.iter().any(|g| g == "root"),
            "gid 0 is below gid-min 1"
        );
        assert!(high.len() < all.len());
        assert!(all_groups(Some(u32::MAX)).is_empty());
    }

    #[test]
    fn unknown_or_odd_user_has_no_groups() {
        assert!(unix_groups("no-such-user-rocserv-test", None).is_empty());
        assert!(unix_groups("nul\0byte", None).is_empty());
    }
}

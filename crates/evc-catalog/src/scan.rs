//! Walking the schema directory: `<namespace>/<RecordName>/v<N>.avsc` folders and files into
//! parsed versions, with a diagnostic for every path that does not fit the layout.

use super::*;

pub(super) fn is_ignored_file(name: &str) -> bool {
    name.starts_with('.') || name.ends_with(".md")
}

/// Reads `root/<namespace>/<Name>/v<N>.avsc`, returning versions by full name.
/// Event folders by full name: parsed versions, folders with problems, unread folders'
/// version counts.
pub(super) type Scanned = (
    BTreeMap<String, Vec<Version>>,
    BTreeSet<String>,
    BTreeMap<String, (usize, Vec<PathBuf>)>,
);

pub(super) fn scan(root: &Path, opts: &LoadOptions<'_>, diags: &mut Vec<Diagnostic>) -> Scanned {
    let mut out = BTreeMap::new();
    let mut broken = BTreeSet::new();
    let mut jobs: Vec<(String, String, PathBuf)> = Vec::new();
    for ns_entry in sorted_dir(root, diags) {
        let ns_name = ns_entry
            .file_name()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default();
        if ns_entry.is_file() {
            if ns_name != CONFIG_FILE && !is_ignored_file(&ns_name) {
                diags.push(
                    Diagnostic::error(
                        Code::StrayFile,
                        &ns_entry,
                        format!("unexpected file `{ns_name}` in the schema directory"),
                    )
                    .with_help("schemas live at <namespace>/<RecordName>/v<N>.avsc"),
                );
            }
            continue;
        }
        if is_ignored_file(&ns_name) {
            continue;
        }
        if !ns_name.split('.').all(valid_ident) {
            diags.push(Diagnostic::error(
                Code::InvalidPath,
                &ns_entry,
                format!("folder `{ns_name}` is not a valid Avro namespace (dotted names of letters, digits and `_`)"),
            ));
            continue;
        }
        for rec_entry in sorted_dir(&ns_entry, diags) {
            let rec_name = rec_entry
                .file_name()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_default();
            if rec_entry.is_file() {
                if !is_ignored_file(&rec_name) {
                    diags.push(
                        Diagnostic::error(
                            Code::StrayFile,
                            &rec_entry,
                            format!("unexpected file `{rec_name}`"),
                        )
                        .with_help(format!(
                            "put it in a record folder: {ns_name}/<RecordName>/v<N>.avsc"
                        )),
                    );
                }
                continue;
            }
            if !valid_ident(&rec_name) {
                diags.push(Diagnostic::error(
                    Code::InvalidPath,
                    &rec_entry,
                    format!("folder `{rec_name}` is not a valid Avro record name"),
                ));
                continue;
            }
            jobs.push((ns_name.clone(), rec_name, rec_entry));
        }
    }
    // Parse event folders in parallel: a large tree is thousands of files.
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(jobs.len().max(1));
    let chunk = jobs.len().div_ceil(threads).max(1);
    let results: Vec<(String, Folder, Vec<Diagnostic>)> = std::thread::scope(|sc| {
        let handles: Vec<_> = jobs
            .chunks(chunk)
            .map(|part| {
                sc.spawn(move || {
                    // Every folder of the part is listed before any is read: a `read` filter
                    // that waits for something computed meanwhile (a gate's git base) then
                    // waits once the listing is done, not on the first folder.
                    let listed: Vec<_> = part
                        .iter()
                        .map(|(_, _, dir)| {
                            let mut diags = Vec::new();
                            let files = sorted_dir(dir, &mut diags);
                            (files, diags)
                        })
                        .collect();
                    part.iter()
                        .zip(listed)
                        .map(|((ns, rec, dir), (files, diags))| {
                            scan_listed(ns, rec, dir, files, diags, opts)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("scan thread"))
            .collect()
    });
    let mut unread = BTreeMap::new();
    for (fullname, folder, event_diags) in results {
        let bad = !event_diags.is_empty();
        diags.extend(event_diags);
        match folder {
            _ if bad => {
                broken.insert(fullname);
            }
            Folder::Parsed(versions) if versions.is_empty() => {
                broken.insert(fullname);
            }
            Folder::Parsed(versions) => {
                out.insert(fullname, versions);
            }
            Folder::Unread(0, _) => {
                broken.insert(fullname);
            }
            Folder::Unread(n, files) => {
                unread.insert(fullname, (n, files));
            }
        }
    }
    (out, broken, unread)
}

/// What [`scan_event`] found in a folder.
pub(super) enum Folder {
    Parsed(Vec<Version>),
    /// Not read (by [`LoadOptions::read`]); the number of version files, and the folder's
    /// files as listed (sorted), for reading it later without listing it again.
    Unread(usize, Vec<PathBuf>),
}

/// Reads and parses one event folder's version files, already listed (`files`, sorted;
/// `diags` from listing it). Run in parallel across folders.
pub(super) fn scan_listed(
    ns_name: &str,
    rec_name: &str,
    rec_entry: &Path,
    files: Vec<PathBuf>,
    mut diags: Vec<Diagnostic>,
    opts: &LoadOptions<'_>,
) -> (String, Folder, Vec<Diagnostic>) {
    let diags = &mut diags;
    let fullname = format!("{ns_name}.{rec_name}");
    let mut versions: Vec<Version> = Vec::new();
    let mut numbers = Vec::new();
    let names: Vec<String> = files
        .iter()
        .map(|f| {
            f.file_name()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_default()
        })
        .collect();
    let read = opts.read.is_none_or(|read| read(&fullname, &names));
    let listing = if read { Vec::new() } else { files.clone() };
    for (file, fname) in files.into_iter().zip(names) {
        if is_ignored_file(&fname) {
            continue;
        }
        let Some(n) = parse_version_file(&fname) else {
            diags.push(
                Diagnostic::error(
                    Code::InvalidPath,
                    &file,
                    format!("`{fname}` is not a version file"),
                )
                .with_help("version files are named v1.avsc, v2.avsc, ... (no leading zeros)"),
            );
            continue;
        };
        numbers.push((n, file.clone()));
        if !read {
            continue;
        }
        let text = match fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) => {
                diags.push(Diagnostic::error(
                    Code::FileUnreadable,
                    &file,
                    format!("cannot read the file: {e}"),
                ));
                continue;
            }
        };
        let schema = match Schema::parse(&text) {
            Ok(s) => s,
            Err(e) => {
                let code = if e.pointer.is_none() {
                    Code::InvalidJson
                } else {
                    Code::InvalidSchema
                };
                diags.push(Diagnostic::error(code, &file, e.message.clone()).at(&text, e.span));
                continue;
            }
        };
        match schema.root_named() {
            Some(n) if matches!(n.kind, evc_schema::NamedKind::Record { .. }) => {
                let expect_ns = Some(ns_name);
                if n.name.name != rec_name || n.name.namespace.as_deref() != expect_ns {
                    diags.push(
                        Diagnostic::error(
                            Code::RecordPathMismatch,
                            &file,
                            format!(
                                "the record is named `{}` but its path says `{fullname}`",
                                n.name.fullname()
                            ),
                        )
                        .at(&text, n.name_span)
                        .with_help(format!(
                            "name it \"{rec_name}\" with namespace \"{ns_name}\", or move the file"
                        )),
                    );
                    continue;
                }
            }
            _ => {
                diags.push(
                    Diagnostic::error(
                        Code::NotARecord,
                        &file,
                        format!(
                            "an event schema must be a record, found {}",
                            schema.root_name()
                        ),
                    )
                    .at(&text, schema.root.span),
                );
                continue;
            }
        }
        let rel_path = format!("{ns_name}/{rec_name}/{fname}");
        versions.push(Version {
            number: n,
            path: file,
            rel_path,
            text,
            schema,
        });
    }
    numbers.sort();
    for (i, (n, file)) in numbers.iter().enumerate() {
        let want = i as u32 + 1;
        if *n != want {
            diags.push(
                Diagnostic::error(
                    Code::VersionGap,
                    file,
                    format!("`{fullname}` has v{n} but no v{want}: versions must run 1, 2, 3, ... without gaps"),
                )
                .with_help(format!("rename it to v{want}.avsc")),
            );
            break;
        }
    }
    if numbers.is_empty() {
        diags.push(Diagnostic::error(
            Code::EmptyEvent,
            rec_entry,
            format!("`{fullname}` has no version files"),
        ));
        return (fullname, Folder::Parsed(versions), std::mem::take(diags));
    }
    if !read {
        return (
            fullname,
            Folder::Unread(numbers.len(), listing),
            std::mem::take(diags),
        );
    }
    versions.sort_by_key(|v| v.number);
    (fullname, Folder::Parsed(versions), std::mem::take(diags))
}

pub(super) fn parse_version_file(name: &str) -> Option<u32> {
    let n = name.strip_prefix('v')?.strip_suffix(".avsc")?;
    if n.is_empty() || n.starts_with('0') || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    n.parse().ok()
}

pub(super) fn valid_ident(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(ch) if ch.is_alphabetic() || ch == '_')
        && c.all(|ch| ch.is_alphanumeric() || ch == '_')
}

pub(super) fn sorted_dir(dir: &Path, diags: &mut Vec<Diagnostic>) -> Vec<PathBuf> {
    match fs::read_dir(dir) {
        Ok(rd) => {
            let mut v: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
            v.sort();
            v
        }
        Err(e) => {
            diags.push(Diagnostic::error(
                Code::FileUnreadable,
                dir,
                format!("cannot read the folder: {e}"),
            ));
            Vec::new()
        }
    }
}

"""Archives of `modelfleet import` (tools/import_model.py), bounded before they are read: a zip's
end record and central directory checked against the limits, then every entry of it; a .mar's
files by name, from a folder or copied out of a checked zip one by one (never a .py).
"""
import os, re, shutil, stat, zipfile

from import_refused import Refused

MAR_MANIFEST = "MAR-INF/MANIFEST.json"

# Bytes an entry may take in a zip's central directory: its 46-byte header, its name (a path: 4 KiB
# at most on Linux) and its extra fields fit in 4 KiB in any archive this reads.
DIRECTORY_BYTES_PER_ENTRY = 4096


def open_zip(path, max_entries):
    """Opens a zip once its end record says its central directory is within the limits: ZipFile
    reads and parses the whole directory as it opens, so a directory that declares millions of
    entries, or gigabytes, is refused before a byte of it is read. The end record is found by
    zipfile's own reader (ZIP64 included), the same one ZipFile then trusts."""
    with open(path, "rb") as f:
        end = zipfile._EndRecData(f)
    if not end:
        raise Refused(f"archive {path} is not a zip (no end of central directory record)")
    entries, size = end[zipfile._ECD_ENTRIES_TOTAL], end[zipfile._ECD_SIZE]
    if entries > max_entries:
        raise Refused(f"archive {path}'s central directory declares {entries} entries, more than the limit of "
                      f"{max_entries}")
    if size > max_entries * DIRECTORY_BYTES_PER_ENTRY:
        raise Refused(f"archive {path}'s central directory declares {size} bytes, more than the "
                      f"{max_entries * DIRECTORY_BYTES_PER_ENTRY} the limit of {max_entries} entries allows")
    try:
        return zipfile.ZipFile(path)
    except zipfile.BadZipFile as error:
        raise Refused(f"archive {path} is not a readable zip ({error})")


def check_zip(z, path, max_entries, max_bytes):
    """Refuses a zip as the project's own archive reader refuses a tar: too many entries, too many
    bytes unpacked, an entry that is a link or not a plain file or folder, or whose name is
    absolute or holds "..". Returns the file names."""
    infos = z.infolist()
    if len(infos) > max_entries:
        raise Refused(f"archive {path} has more than {max_entries} entries, the limit")
    total = 0
    for info in infos:
        name = info.filename
        if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or ".." in re.split(r"[\\/]", name):
            raise Refused(f'archive entry "{name}" escapes its folder')
        kind = stat.S_IFMT(info.external_attr >> 16)
        if kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
            what = "link" if kind == stat.S_IFLNK else "special file"
            raise Refused(f'archive entry "{name}" is a {what}; only files and folders are allowed')
        total += info.file_size
        if total > max_bytes:
            raise Refused(f"archive {path} unpacks to more than the limit of {max_bytes} bytes")
    return [i.filename for i in infos if not i.is_dir()]


def check_torch_zip(names, path):
    """A zip that is not a .mar is a torch.save file; TorchScript archives are refused."""
    if any(n.endswith("/constants.pkl") or "/code/" in n for n in names):
        raise Refused(f"{os.path.basename(path)} is a TorchScript module (torch.jit.save): it carries code and no "
                      f"state_dict to rebuild the model from; export model.state_dict() with torch.save")


class FolderFiles:
    """Files of a folder by name (no-archive .mar, or an unpacked tgz .mar)."""

    def __init__(self, root):
        self.root = root
        self.names = [n for n in os.listdir(root) if os.path.isfile(os.path.join(root, n))]

    def path(self, name):
        full = os.path.realpath(os.path.join(self.root, name))
        if os.path.dirname(full) != os.path.realpath(self.root):
            raise Refused(f'"{name}" resolves outside {self.root} (a link out of the source folder '
                          f'is never followed)')
        return full

    def manifest(self):
        with open(os.path.join(self.root, MAR_MANIFEST)) as f:
            return f.read()


class ZipFiles:
    """Files of a checked .mar zip, copied out one by one when asked for (never a .py)."""

    def __init__(self, z, names, work):
        self.z, self.work = z, work
        self.names = [n for n in names if "/" not in n]

    def path(self, name):
        target = os.path.join(self.work, name)
        if not os.path.exists(target):
            with self.z.open(name) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)  # zipfile stops at the declared size and checks the CRC
        return target

    def manifest(self):
        return self.z.read(MAR_MANIFEST).decode("utf-8")

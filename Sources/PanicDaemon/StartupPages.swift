#if canImport(Glibc)
    import Glibc
#endif

/// The code and constants only start-up ran, given back once the daemon is ready (docs/daemon.md → *Start-up pages
/// given back at ready*).
///
/// Start-up touches pages idle never touches again: the dynamic loader, the C++ runtime's and ICU's
/// initialisation, the configuration's parser, the outbox's opening, and the 64 KiB the kernel maps around each
/// page a fault reads. They stay in the process's resident set for good unless it says it no longer needs them.
/// `release()` does, with `madvise(MADV_DONTNEED)`, for every read-only segment (`PT_LOAD` without `PF_W`) of the
/// executable and of each shared library: what the idle daemon runs faults back in from the page cache (a minor
/// fault, no read), what it does not run stays out of its resident set.
///
/// Safe because those segments are never written: their pages are the file's, so dropping one loses nothing and
/// the next touch maps the same bytes again. The writable segments, and the relocated read-only data in them
/// (`PT_GNU_RELRO` lies inside a writable `PT_LOAD`), are left alone, as is an object with text relocations
/// (its read-only segments hold pages the loader wrote) and the vDSO (not a file's pages).
public enum StartupPages {
    /// Drops this process's mappings of the read-only segments' pages; returns the bytes advised (0 where the
    /// system has no `dl_iterate_phdr`).
    @discardableResult
    public static func release() -> Int {
        #if os(Linux) && (arch(x86_64) || arch(arm64))
            // `dl_iterate_phdr` and `struct dl_phdr_info` are declared behind _GNU_SOURCE, which Swift's Glibc
            // module does not define: the function is looked up, the struct's head read at its LP64 offsets.
            typealias Visit = @convention(c) (UnsafeMutableRawPointer?, Int, UnsafeMutableRawPointer?) -> Int32
            typealias Iterate = @convention(c) (Visit, UnsafeMutableRawPointer?) -> Int32
            guard let symbol = dlsym(nil, "dl_iterate_phdr") else { return 0 }  // nil: RTLD_DEFAULT
            var advised = 0
            _ = withUnsafeMutablePointer(to: &advised) { total in
                unsafeBitCast(symbol, to: Iterate.self)(
                    { info, size, total in
                        guard let info, let total, size >= 26 else { return 0 }
                        total.assumingMemoryBound(to: Int.self).pointee += StartupPages.release(
                            address: UInt(info.load(fromByteOffset: 0, as: UInt64.self)),
                            name: info.load(fromByteOffset: 8, as: UnsafePointer<CChar>?.self),
                            headers: info.load(fromByteOffset: 16, as: UnsafePointer<Elf64_Phdr>?.self),
                            count: Int(info.load(fromByteOffset: 24, as: UInt16.self)))
                        return 0
                    }, total)
            }
            return advised
        #else
            return 0
        #endif
    }

    #if os(Linux) && (arch(x86_64) || arch(arm64))
        /// One loaded object's read-only segments: `address` is where it is loaded, `headers` its `count` program
        /// headers.
        private static func release(
            address: UInt, name: UnsafePointer<CChar>?, headers: UnsafePointer<Elf64_Phdr>?, count: Int
        ) -> Int {
            guard let headers else { return 0 }
            if let name, String(cString: name).hasPrefix("linux-vdso") { return 0 }
            let segments = UnsafeBufferPointer(start: headers, count: count)
            if segments.contains(where: {
                $0.p_type == UInt32(PT_DYNAMIC) && hasTextRelocations(at: address &+ UInt($0.p_vaddr))
            }) {
                return 0
            }
            let page = UInt(sysconf(Int32(_SC_PAGESIZE)))
            var advised = 0
            for segment in segments where segment.p_type == UInt32(PT_LOAD) && segment.p_memsz > 0 {
                guard segment.p_flags & UInt32(PF_W) == 0 else { continue }
                let first = address &+ UInt(segment.p_vaddr)
                let start = first & ~(page - 1)
                let end = (first &+ UInt(segment.p_memsz) &+ page - 1) & ~(page - 1)
                if madvise(UnsafeMutableRawPointer(bitPattern: start), Int(end - start), MADV_DONTNEED) == 0 {
                    advised += Int(end - start)
                }
            }
            return advised
        }

        /// Whether the dynamic section at `dynamic` asks for text relocations (`DT_TEXTREL`, or `DF_TEXTREL` in
        /// `DT_FLAGS`): the loader then wrote into the object's read-only segments.
        private static func hasTextRelocations(at dynamic: UInt) -> Bool {
            guard var entry = UnsafePointer<Elf64_Dyn>(bitPattern: dynamic) else { return false }
            while entry.pointee.d_tag != Int64(DT_NULL) {
                if entry.pointee.d_tag == Int64(DT_TEXTREL) { return true }
                if entry.pointee.d_tag == Int64(DT_FLAGS), entry.pointee.d_un.d_val & UInt64(DF_TEXTREL) != 0 {
                    return true
                }
                entry += 1
            }
            return false
        }
    #endif
}

import PanicCore

/// Merges decoded sentences into epochs (one per receiver time) and keeps the last good fix and its age.
///
/// An epoch closes when a sentence with a different UTC time arrives (or on `flush()`), so each epoch is
/// reported once, complete. Sentences without time (GSA, GSV, VTG) join the epoch in progress. The date is
/// kept across epochs and advanced at midnight; a date earlier than `earliestPlausibleDate` is kept as the
/// receiver said it and flagged (`dateSuspect`), never silently corrected.
public struct FixTracker: Sendable {
    /// Tracker settings.
    public struct Options: Sendable, Equatable {
        /// Dates before this are flagged as a probable GPS week rollover.
        public var earliestPlausibleDate: UTCDate

        public init(earliestPlausibleDate: UTCDate = UTCDate(year: 2024, month: 1, day: 1)) {
            self.earliestPlausibleDate = earliestPlausibleDate
        }
    }

    private struct Epoch: Sendable {
        var fix = GNSSFix()
        var hasData = false
        var positionValid = false
        var positionVoid = false
        var gsaFixType = 0
        var sawGSA = false
        var sawAltitude = false
    }

    public let options: Options
    /// The last epoch that had a position.
    public private(set) var lastFix: GNSSFix?
    /// The last epoch closed, with or without a position.
    public private(set) var lastEpoch: GNSSFix?

    private var epoch = Epoch()
    private var date: UTCDate?
    private var previousTime: UTCTime?
    private var inView = ConstellationCounts()
    private var used = ConstellationCounts()
    private var dops: (hdop: Double?, pdop: Double?, vdop: Double?) = (nil, nil, nil)

    public init(options: Options = Options()) { self.options = options }

    /// How old the last good fix is at `now`, nil when there has never been one.
    public func age(at now: MonotonicInstant) -> Duration? { lastFix?.age(at: now) }

    /// Takes one sentence heard at `instant`; returns the previous epoch when this sentence starts a new one.
    public mutating func ingest(_ sentence: NMEASentence, at instant: MonotonicInstant) -> GNSSFix? {
        var closed: GNSSFix?
        ingest(sentence, at: instant) { closed = $0 }
        return closed
    }

    /// `ingest` for the decoder's hot path: the closed epoch goes to `closed`, so the common case (no epoch
    /// closed) moves no `GNSSFix` at all, not even an empty optional one.
    @inline(__always)
    mutating func ingest(_ sentence: NMEASentence, at instant: MonotonicInstant, closed: (GNSSFix) -> Void) {
        let time = sentence.time
        if let time, let current = epoch.fix.time, current != time { closed(close()) }
        if let time, epoch.fix.time == nil { epoch.fix.time = time }
        apply(sentence, talker: sentence.talker)
        epoch.fix.receivedAt = instant
        epoch.hasData = true
    }

    /// Closes the epoch in progress (end of a recording), returning it if it had anything.
    public mutating func flush() -> GNSSFix? { epoch.hasData ? close() : nil }

    private mutating func apply(_ sentence: NMEASentence, talker: NMEATalker) {
        switch sentence.body {
        case .gga(let gga):
            if gga.quality.hasFix, let latitude = gga.latitude, let longitude = gga.longitude {
                setPosition(latitude, longitude)
                epoch.fix.quality = gga.quality
                if let altitude = gga.altitudeMSL {
                    epoch.fix.altitudeMSL = altitude
                    epoch.sawAltitude = true
                }
                if let separation = gga.geoidSeparation { epoch.fix.geoidSeparation = separation }
            } else if !gga.quality.hasFix {
                epoch.positionVoid = true
            }
            if let count = gga.satellitesUsed { epoch.fix.satellitesUsed = count }
            if let hdop = gga.hdop { dops.hdop = hdop }
        case .rmc(let rmc):
            if let date = rmc.date { setDate(date) }
            if rmc.valid, rmc.mode != FixQuality.none, let latitude = rmc.latitude, let longitude = rmc.longitude {
                setPosition(latitude, longitude)
                if epoch.fix.quality == .none { epoch.fix.quality = rmc.mode ?? .autonomous }
                if let knots = rmc.speedKnots { epoch.fix.speed = knots * knotsToMetresPerSecond }
                if let course = rmc.course { epoch.fix.track = course }
                if let variation = rmc.magneticVariation { epoch.fix.magneticVariation = variation }
            } else {
                epoch.positionVoid = true
            }
        case .gsa(let gsa):
            if !epoch.sawGSA { used = ConstellationCounts() }
            epoch.sawGSA = true
            epoch.gsaFixType = max(epoch.gsaFixType, gsa.fixType ?? 0)
            let constellation =
                gsa.systemID.flatMap(Constellation.init(systemID:)) ?? talker.constellation
                ?? gsa.firstSatellite.map(Constellation.init(nmeaSatellite:)) ?? .other
            used[constellation] += gsa.satellitesUsed
            if gsa.pdop != nil || gsa.hdop != nil || gsa.vdop != nil { dops = (gsa.hdop, gsa.pdop, gsa.vdop) }
        case .gsv(let gsv):
            inView[talker.constellation ?? .other] = gsv.satellitesInView
        case .vtg(let vtg):
            guard vtg.mode != FixQuality.none else { break }
            if epoch.fix.speed == nil {
                if let knots = vtg.speedKnots {
                    epoch.fix.speed = knots * knotsToMetresPerSecond
                } else if let kmh = vtg.speedKmh {
                    epoch.fix.speed = kmh / 3.6
                }
            }
            if epoch.fix.track == nil, let course = vtg.courseTrue { epoch.fix.track = course }
        case .gll(let gll):
            if gll.valid, gll.mode != FixQuality.none, let latitude = gll.latitude, let longitude = gll.longitude {
                setPosition(latitude, longitude)
                if epoch.fix.quality == .none { epoch.fix.quality = gll.mode ?? .autonomous }
            } else {
                epoch.positionVoid = true
            }
        case .gns(let gns):
            if gns.quality.hasFix, let latitude = gns.latitude, let longitude = gns.longitude {
                setPosition(latitude, longitude)
                if epoch.fix.quality == .none { epoch.fix.quality = gns.quality }
                if let altitude = gns.altitudeMSL {
                    epoch.fix.altitudeMSL = altitude
                    epoch.sawAltitude = true
                }
                if let separation = gns.geoidSeparation { epoch.fix.geoidSeparation = separation }
            } else {
                epoch.positionVoid = true
            }
            if let count = gns.satellitesUsed { epoch.fix.satellitesUsed = count }
        case .zda(let zda):
            if let date = zda.date { setDate(date) }
        case .txt:
            break
        }
    }

    private mutating func setPosition(_ latitude: Double, _ longitude: Double) {
        epoch.fix.latitude = latitude
        epoch.fix.longitude = longitude
        epoch.positionValid = true
    }

    private mutating func setDate(_ newDate: UTCDate) {
        date = newDate
        epoch.fix.date = newDate
    }

    private mutating func close() -> GNSSFix {
        var fix = epoch.fix
        // The date carries over from earlier epochs, and moves on a day when the time of day wraps.
        if fix.date == nil, var carried = date {
            if let time = fix.time, let previous = previousTime,
                time.nanosecondsOfDay + 43_200_000_000_000 < previous.nanosecondsOfDay
            {
                carried = carried.nextDay
                date = carried
            }
            fix.date = carried
        }
        if let time = fix.time { previousTime = time }
        if let date = fix.date { fix.dateSuspect = date < options.earliestPlausibleDate }
        fix.usedByConstellation = used
        fix.inViewByConstellation = inView
        (fix.hdop, fix.pdop, fix.vdop) = dops
        if epoch.positionValid {
            // An altitude from GGA/GNS makes it 3D even when a GSA says 2D (MediaTek does), as in gpsd.
            fix.mode = epoch.sawAltitude || epoch.gsaFixType == 3 ? .threeD : .twoD
        } else {
            fix.mode = epoch.positionVoid || epoch.sawGSA ? .noFix : .unknown
            fix.latitude = nil
            fix.longitude = nil
            fix.altitudeMSL = nil
            fix.speed = nil
            fix.track = nil
        }
        if fix.mode < .threeD { fix.altitudeMSL = nil }
        epoch = Epoch()
        lastEpoch = fix
        if fix.hasPosition { lastFix = fix }
        return fix
    }
}

/// gpsd's KNOTS_TO_MPS.
let knotsToMetresPerSecond = 1852.0 / 3600.0

extension NMEASentence {
    /// The UTC time this sentence carries, if its type carries one.
    public var time: UTCTime? {
        switch body {
        case .gga(let gga): gga.time
        case .rmc(let rmc): rmc.time
        case .gll(let gll): gll.time
        case .gns(let gns): gns.time
        case .zda(let zda): zda.time
        case .gsa, .gsv, .vtg, .txt: nil
        }
    }
}

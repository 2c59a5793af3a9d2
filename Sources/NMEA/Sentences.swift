/// A GNSS constellation, as named by a talker or an NMEA 4.10 system id.
public enum Constellation: Int, CaseIterable, Sendable, Hashable, CustomStringConvertible {
    case gps, glonass, galileo, beidou, qzss, navic, sbas, other

    /// The NMEA 4.10/4.11 system id (GSA field 18, GSV signal tables): 1 GPS … 6 NavIC.
    public init?(systemID: Int) {
        switch systemID {
        case 1: self = .gps
        case 2: self = .glonass
        case 3: self = .galileo
        case 4: self = .beidou
        case 5: self = .qzss
        case 6: self = .navic
        default: return nil
        }
    }

    /// The constellation an NMEA satellite number belongs to when the talker does not say (`GN`).
    public init(nmeaSatellite id: Int) {
        switch id {
        case 1...32: self = .gps
        case 33...64, 120...158: self = .sbas
        case 65...96: self = .glonass
        case 193...202: self = .qzss
        case 201...237, 401...437: self = .beidou
        case 301...336: self = .galileo
        default: self = .other
        }
    }

    public var description: String {
        switch self {
        case .gps: "GPS"
        case .glonass: "GLONASS"
        case .galileo: "Galileo"
        case .beidou: "BeiDou"
        case .qzss: "QZSS"
        case .navic: "NavIC"
        case .sbas: "SBAS"
        case .other: "other"
        }
    }
}

/// The two-letter talker of a sentence (`GP`, `GN`, `GI`, …); every talker is accepted.
public struct NMEATalker: Sendable, Hashable, CustomStringConvertible {
    /// The two ASCII bytes.
    public var first: UInt8
    public var second: UInt8

    public init(_ first: UInt8, _ second: UInt8) {
        self.first = first
        self.second = second
    }

    /// The constellation this talker speaks for, nil for `GN` (combined) and unknown talkers.
    public var constellation: Constellation? {
        switch (first, second) {
        case (0x47, 0x50): .gps  // GP
        case (0x47, 0x4C): .glonass  // GL
        case (0x47, 0x41): .galileo  // GA
        case (0x47, 0x42), (0x42, 0x44): .beidou  // GB, BD
        case (0x47, 0x51), (0x51, 0x5A), (0x50, 0x51): .qzss  // GQ, QZ, Quectel's PQ
        case (0x47, 0x49): .navic  // GI (IRNSS)
        default: nil
        }
    }

    public var description: String { String(decoding: [first, second], as: UTF8.self) }
}

/// How a position was obtained: GGA quality or the NMEA 2.3+ mode indicator.
public enum FixQuality: Int, Sendable, Hashable, CustomStringConvertible {
    case none = 0, autonomous = 1, differential = 2, pps = 3, rtkFixed = 4, rtkFloat = 5, estimated = 6,
        manual = 7, simulated = 8

    /// From an NMEA mode indicator (RMC 12, GLL 7, VTG 9, GNS 6): A, D, E, F, M, N, P, R, S.
    public init?(modeIndicator: UInt8) {
        switch modeIndicator {
        case 0x41: self = .autonomous  // A
        case 0x44: self = .differential  // D
        case 0x45: self = .estimated  // E
        case 0x46: self = .rtkFloat  // F
        case 0x4D: self = .manual  // M
        case 0x4E: self = .none  // N
        case 0x50: self = .pps  // P (precise)
        case 0x52: self = .rtkFixed  // R
        case 0x53: self = .simulated  // S
        default: return nil
        }
    }

    /// Whether this quality carries a usable position.
    public var hasFix: Bool { self != .none }

    public var description: String {
        switch self {
        case .none: "none"
        case .autonomous: "autonomous"
        case .differential: "differential"
        case .pps: "precise"
        case .rtkFixed: "rtk-fixed"
        case .rtkFloat: "rtk-float"
        case .estimated: "estimated"
        case .manual: "manual"
        case .simulated: "simulated"
        }
    }
}

/// GGA: time, position, quality, satellites used, HDOP, altitude.
public struct GGA: Sendable, Hashable {
    public var time: UTCTime? {
        get { packedTime.value }
        set { packedTime = PackedTime(newValue) }
    }
    public var latitude: Double? {
        get { packedLatitude.value }
        set { packedLatitude = PackedDecimal(newValue) }
    }
    public var longitude: Double? {
        get { packedLongitude.value }
        set { packedLongitude = PackedDecimal(newValue) }
    }
    public var quality: FixQuality
    public var satellitesUsed: Int? {
        get { packedSatellitesUsed.value }
        set { packedSatellitesUsed = PackedInteger(newValue) }
    }
    public var hdop: Double? {
        get { packedHdop.value }
        set { packedHdop = PackedDecimal(newValue) }
    }
    public var altitudeMSL: Double? {
        get { packedAltitudeMSL.value }
        set { packedAltitudeMSL = PackedDecimal(newValue) }
    }
    public var geoidSeparation: Double? {
        get { packedGeoidSeparation.value }
        set { packedGeoidSeparation = PackedDecimal(newValue) }
    }

    private var packedTime: PackedTime
    private var packedLatitude: PackedDecimal
    private var packedLongitude: PackedDecimal
    private var packedSatellitesUsed: PackedInteger
    private var packedHdop: PackedDecimal
    private var packedAltitudeMSL: PackedDecimal
    private var packedGeoidSeparation: PackedDecimal

    @inline(__always)
    init(
        time: UTCTime?, latitude: Double?, longitude: Double?, quality: FixQuality, satellitesUsed: Int?, hdop: Double?,
        altitudeMSL: Double?, geoidSeparation: Double?
    ) {
        packedTime = PackedTime(time)
        packedLatitude = PackedDecimal(latitude)
        packedLongitude = PackedDecimal(longitude)
        self.quality = quality
        packedSatellitesUsed = PackedInteger(satellitesUsed)
        packedHdop = PackedDecimal(hdop)
        packedAltitudeMSL = PackedDecimal(altitudeMSL)
        packedGeoidSeparation = PackedDecimal(geoidSeparation)
    }
}

/// RMC: the recommended minimum: time, status, position, speed, course, date.
public struct RMC: Sendable, Hashable {
    public var time: UTCTime? {
        get { packedTime.value }
        set { packedTime = PackedTime(newValue) }
    }
    /// `A` valid, `V` void (receiver warning).
    public var valid: Bool
    public var latitude: Double? {
        get { packedLatitude.value }
        set { packedLatitude = PackedDecimal(newValue) }
    }
    public var longitude: Double? {
        get { packedLongitude.value }
        set { packedLongitude = PackedDecimal(newValue) }
    }
    public var speedKnots: Double? {
        get { packedSpeedKnots.value }
        set { packedSpeedKnots = PackedDecimal(newValue) }
    }
    public var course: Double? {
        get { packedCourse.value }
        set { packedCourse = PackedDecimal(newValue) }
    }
    public var date: UTCDate? {
        get { packedDate.value }
        set { packedDate = PackedDate(newValue) }
    }
    public var magneticVariation: Double? {
        get { packedMagneticVariation.value }
        set { packedMagneticVariation = PackedDecimal(newValue) }
    }
    public var mode: FixQuality?
    /// NMEA 4.10 navigational status: S safe, C caution, U unsafe, V not valid.
    public var navigationalStatus: UInt8?

    private var packedTime: PackedTime
    private var packedLatitude: PackedDecimal
    private var packedLongitude: PackedDecimal
    private var packedSpeedKnots: PackedDecimal
    private var packedCourse: PackedDecimal
    private var packedDate: PackedDate
    private var packedMagneticVariation: PackedDecimal

    @inline(__always)
    init(
        time: UTCTime?, valid: Bool, latitude: Double?, longitude: Double?, speedKnots: Double?, course: Double?,
        date: UTCDate?, magneticVariation: Double?, mode: FixQuality?, navigationalStatus: UInt8?
    ) {
        packedTime = PackedTime(time)
        self.valid = valid
        packedLatitude = PackedDecimal(latitude)
        packedLongitude = PackedDecimal(longitude)
        packedSpeedKnots = PackedDecimal(speedKnots)
        packedCourse = PackedDecimal(course)
        packedDate = PackedDate(date)
        packedMagneticVariation = PackedDecimal(magneticVariation)
        self.mode = mode
        self.navigationalStatus = navigationalStatus
    }
}

/// GSA: fix type, satellites used, DOPs (one per constellation on multi-GNSS receivers).
public struct GSA: Sendable, Hashable {
    /// `M` manual, `A` automatic 2D/3D.
    public var selection: UInt8?
    /// 1 no fix, 2 2D, 3 3D.
    public var fixType: Int? {
        get { packedFixType.value }
        set { packedFixType = PackedInteger(newValue) }
    }
    public var satellitesUsed: Int
    /// The first satellite used, to tell the constellation when neither talker nor system id does.
    public var firstSatellite: Int? {
        get { packedFirstSatellite.value }
        set { packedFirstSatellite = PackedInteger(newValue) }
    }
    public var pdop: Double? {
        get { packedPdop.value }
        set { packedPdop = PackedDecimal(newValue) }
    }
    public var hdop: Double? {
        get { packedHdop.value }
        set { packedHdop = PackedDecimal(newValue) }
    }
    public var vdop: Double? {
        get { packedVdop.value }
        set { packedVdop = PackedDecimal(newValue) }
    }
    /// NMEA 4.10 system id (field 18).
    public var systemID: Int? {
        get { packedSystemID.value }
        set { packedSystemID = PackedInteger(newValue) }
    }

    private var packedFixType: PackedInteger
    private var packedFirstSatellite: PackedInteger
    private var packedPdop: PackedDecimal
    private var packedHdop: PackedDecimal
    private var packedVdop: PackedDecimal
    private var packedSystemID: PackedInteger

    @inline(__always)
    init(
        selection: UInt8?, fixType: Int?, satellitesUsed: Int, firstSatellite: Int?, pdop: Double?, hdop: Double?,
        vdop: Double?, systemID: Int?
    ) {
        self.selection = selection
        packedFixType = PackedInteger(fixType)
        self.satellitesUsed = satellitesUsed
        packedFirstSatellite = PackedInteger(firstSatellite)
        packedPdop = PackedDecimal(pdop)
        packedHdop = PackedDecimal(hdop)
        packedVdop = PackedDecimal(vdop)
        packedSystemID = PackedInteger(systemID)
    }
}

/// GSV: one page of satellites in view.
public struct GSV: Sendable, Hashable {
    public var messageCount: Int
    public var messageNumber: Int
    public var satellitesInView: Int
    /// How many satellite blocks this page carries (up to 4).
    public var satellitesInMessage: Int
    /// NMEA 4.10 signal id (the extra last field), nil before 4.10.
    public var signalID: Int? {
        get { packedSignalID.value }
        set { packedSignalID = PackedInteger(newValue) }
    }

    private var packedSignalID: PackedInteger

    @inline(__always)
    init(messageCount: Int, messageNumber: Int, satellitesInView: Int, satellitesInMessage: Int, signalID: Int?) {
        self.messageCount = messageCount
        self.messageNumber = messageNumber
        self.satellitesInView = satellitesInView
        self.satellitesInMessage = satellitesInMessage
        packedSignalID = PackedInteger(signalID)
    }
}

/// VTG: course and speed over ground.
public struct VTG: Sendable, Hashable {
    public var courseTrue: Double? {
        get { packedCourseTrue.value }
        set { packedCourseTrue = PackedDecimal(newValue) }
    }
    public var courseMagnetic: Double? {
        get { packedCourseMagnetic.value }
        set { packedCourseMagnetic = PackedDecimal(newValue) }
    }
    public var speedKnots: Double? {
        get { packedSpeedKnots.value }
        set { packedSpeedKnots = PackedDecimal(newValue) }
    }
    public var speedKmh: Double? {
        get { packedSpeedKmh.value }
        set { packedSpeedKmh = PackedDecimal(newValue) }
    }
    public var mode: FixQuality?

    private var packedCourseTrue: PackedDecimal
    private var packedCourseMagnetic: PackedDecimal
    private var packedSpeedKnots: PackedDecimal
    private var packedSpeedKmh: PackedDecimal

    @inline(__always)
    init(courseTrue: Double?, courseMagnetic: Double?, speedKnots: Double?, speedKmh: Double?, mode: FixQuality?) {
        packedCourseTrue = PackedDecimal(courseTrue)
        packedCourseMagnetic = PackedDecimal(courseMagnetic)
        packedSpeedKnots = PackedDecimal(speedKnots)
        packedSpeedKmh = PackedDecimal(speedKmh)
        self.mode = mode
    }
}

/// GLL: position and time.
public struct GLL: Sendable, Hashable {
    public var latitude: Double? {
        get { packedLatitude.value }
        set { packedLatitude = PackedDecimal(newValue) }
    }
    public var longitude: Double? {
        get { packedLongitude.value }
        set { packedLongitude = PackedDecimal(newValue) }
    }
    public var time: UTCTime? {
        get { packedTime.value }
        set { packedTime = PackedTime(newValue) }
    }
    public var valid: Bool
    public var mode: FixQuality?

    private var packedLatitude: PackedDecimal
    private var packedLongitude: PackedDecimal
    private var packedTime: PackedTime

    @inline(__always)
    init(latitude: Double?, longitude: Double?, time: UTCTime?, valid: Bool, mode: FixQuality?) {
        packedLatitude = PackedDecimal(latitude)
        packedLongitude = PackedDecimal(longitude)
        packedTime = PackedTime(time)
        self.valid = valid
        self.mode = mode
    }
}

/// GNS: the multi-constellation fix (NMEA 3.0+).
public struct GNS: Sendable, Hashable {
    public var time: UTCTime? {
        get { packedTime.value }
        set { packedTime = PackedTime(newValue) }
    }
    public var latitude: Double? {
        get { packedLatitude.value }
        set { packedLatitude = PackedDecimal(newValue) }
    }
    public var longitude: Double? {
        get { packedLongitude.value }
        set { packedLongitude = PackedDecimal(newValue) }
    }
    /// The best of the per-constellation mode characters.
    public var quality: FixQuality
    public var satellitesUsed: Int? {
        get { packedSatellitesUsed.value }
        set { packedSatellitesUsed = PackedInteger(newValue) }
    }
    public var hdop: Double? {
        get { packedHdop.value }
        set { packedHdop = PackedDecimal(newValue) }
    }
    public var altitudeMSL: Double? {
        get { packedAltitudeMSL.value }
        set { packedAltitudeMSL = PackedDecimal(newValue) }
    }
    public var geoidSeparation: Double? {
        get { packedGeoidSeparation.value }
        set { packedGeoidSeparation = PackedDecimal(newValue) }
    }
    public var navigationalStatus: UInt8?

    private var packedTime: PackedTime
    private var packedLatitude: PackedDecimal
    private var packedLongitude: PackedDecimal
    private var packedSatellitesUsed: PackedInteger
    private var packedHdop: PackedDecimal
    private var packedAltitudeMSL: PackedDecimal
    private var packedGeoidSeparation: PackedDecimal

    @inline(__always)
    init(
        time: UTCTime?, latitude: Double?, longitude: Double?, quality: FixQuality, satellitesUsed: Int?, hdop: Double?,
        altitudeMSL: Double?, geoidSeparation: Double?, navigationalStatus: UInt8?
    ) {
        packedTime = PackedTime(time)
        packedLatitude = PackedDecimal(latitude)
        packedLongitude = PackedDecimal(longitude)
        self.quality = quality
        packedSatellitesUsed = PackedInteger(satellitesUsed)
        packedHdop = PackedDecimal(hdop)
        packedAltitudeMSL = PackedDecimal(altitudeMSL)
        packedGeoidSeparation = PackedDecimal(geoidSeparation)
        self.navigationalStatus = navigationalStatus
    }
}

/// ZDA: time and full date.
public struct ZDA: Sendable, Hashable {
    public var time: UTCTime? {
        get { packedTime.value }
        set { packedTime = PackedTime(newValue) }
    }
    public var date: UTCDate? {
        get { packedDate.value }
        set { packedDate = PackedDate(newValue) }
    }

    private var packedTime: PackedTime
    private var packedDate: PackedDate

    @inline(__always)
    init(time: UTCTime?, date: UTCDate?) {
        packedTime = PackedTime(time)
        packedDate = PackedDate(date)
    }
}

/// TXT: a text message from the receiver; the text stays in the sentence (see `NMEAParser.text`).
public struct TXT: Sendable, Hashable {
    public var messageCount: Int? {
        get { packedMessageCount.value }
        set { packedMessageCount = PackedInteger(newValue) }
    }
    public var messageNumber: Int? {
        get { packedMessageNumber.value }
        set { packedMessageNumber = PackedInteger(newValue) }
    }
    public var identifier: Int? {
        get { packedIdentifier.value }
        set { packedIdentifier = PackedInteger(newValue) }
    }
    /// Byte offsets of the text within the sentence body.
    public var textRange: Range<Int>

    private var packedMessageCount: PackedInteger
    private var packedMessageNumber: PackedInteger
    private var packedIdentifier: PackedInteger

    @inline(__always)
    init(messageCount: Int?, messageNumber: Int?, identifier: Int?, textRange: Range<Int>) {
        packedMessageCount = PackedInteger(messageCount)
        packedMessageNumber = PackedInteger(messageNumber)
        packedIdentifier = PackedInteger(identifier)
        self.textRange = textRange
    }
}

/// One decoded sentence: who said it and what it says.
public struct NMEASentence: Sendable, Hashable {
    /// What a sentence type carries.
    public enum Body: Sendable, Hashable {
        case gga(GGA), rmc(RMC), gsa(GSA), gsv(GSV), vtg(VTG), gll(GLL), gns(GNS), zda(ZDA), txt(TXT)
    }

    public var talker: NMEATalker
    public var body: Body
}

/// A sentence type the parser knows: its three-letter name, minimum field count and decoder, gpsd style.
/// A switch rather than a table of closures, so each decoder is called directly and builds its value in place.
enum SentenceType: Sendable {
    case gsv, gsa, gga, rmc, vtg, gll, zda, gns, txt

    /// The type named by the last three letters of an address.
    @inline(__always)
    init?(name: (UInt8, UInt8, UInt8)) {
        switch name {
        case (0x47, 0x53, 0x56): self = .gsv  // GSV
        case (0x47, 0x53, 0x41): self = .gsa  // GSA
        case (0x47, 0x47, 0x41): self = .gga  // GGA
        case (0x52, 0x4D, 0x43): self = .rmc  // RMC
        case (0x56, 0x54, 0x47): self = .vtg  // VTG
        case (0x47, 0x4C, 0x4C): self = .gll  // GLL
        case (0x5A, 0x44, 0x41): self = .zda  // ZDA
        case (0x47, 0x4E, 0x53): self = .gns  // GNS
        case (0x54, 0x58, 0x54): self = .txt  // TXT
        default: return nil
        }
    }

    /// Fields required, the address included.
    var minimumFields: Int {
        switch self {
        case .gsv: 4
        case .gsa: 17
        case .gga: 10
        case .rmc: 10
        case .vtg: 9
        case .gll: 7
        case .zda: 5
        case .gns: 10
        case .txt: 5
        }
    }

    @inline(__always)
    func decode(_ fields: NMEAFields) throws(NMEAFieldError) -> NMEASentence.Body {
        switch self {
        case .gsv: try decodeGSV(fields)
        case .gsa: try decodeGSA(fields)
        case .gga: try decodeGGA(fields)
        case .rmc: try decodeRMC(fields)
        case .vtg: try decodeVTG(fields)
        case .gll: try decodeGLL(fields)
        case .zda: try decodeZDA(fields)
        case .gns: try decodeGNS(fields)
        case .txt: try decodeTXT(fields)
        }
    }
}

private func mode(_ fields: NMEAFields, _ index: Int) throws(NMEAFieldError) -> FixQuality? {
    guard let character = try fields.character(index) else { return nil }
    guard let mode = FixQuality(modeIndicator: character) else { throw NMEAFieldError(field: index) }
    return mode
}

private func latitude(_ fields: NMEAFields, _ index: Int) throws(NMEAFieldError) -> Double? {
    try fields.coordinate(index, hemisphere: index + 1, positive: 0x4E, negative: 0x53, limit: 90)
}

private func longitude(_ fields: NMEAFields, _ index: Int) throws(NMEAFieldError) -> Double? {
    try fields.coordinate(index, hemisphere: index + 1, positive: 0x45, negative: 0x57, limit: 180)
}

private func status(_ fields: NMEAFields, _ index: Int) throws(NMEAFieldError) -> Bool {
    switch try fields.character(index) {
    case 0x41: return true  // A
    case 0x56, nil: return false  // V
    default: throw NMEAFieldError(field: index)
    }
}

// $GNGGA,000941.00,4404.13387,N,12118.85628,W,1,12,1.01,1144.8,M,-21.4,M,,*4D
//  1 UTC time hhmmss.ss       2,3 latitude ddmm.mmmmm, N/S     4,5 longitude dddmm.mmmmm, E/W
//  6 quality: 0 none, 1 GPS, 2 DGPS, 3 PPS, 4 RTK fixed, 5 RTK float, 6 estimated, 7 manual, 8 simulator
//  7 satellites used          8 HDOP      9,10 altitude above mean sea level, M
// 11,12 geoid separation, M   13 age of differential corrections   14 differential station id
func decodeGGA(_ fields: NMEAFields) throws(NMEAFieldError) -> NMEASentence.Body {
    let quality = try fields.integer(6) ?? 0
    guard let fixQuality = FixQuality(rawValue: quality) else { throw NMEAFieldError(field: 6) }
    return .gga(
        GGA(
            time: try fields.time(1), latitude: try latitude(fields, 2), longitude: try longitude(fields, 4),
            quality: fixQuality, satellitesUsed: try fields.integer(7), hdop: try fields.decimal(8),
            altitudeMSL: try fields.decimal(9), geoidSeparation: try fields.decimal(11)))
}

// $GNRMC,000941.00,A,4404.13387,N,12118.85628,W,0.029,,100117,,,A*7D
//  1 UTC time    2 status A valid / V void    3,4 latitude, N/S    5,6 longitude, E/W
//  7 speed over ground, knots    8 course over ground, degrees true    9 date ddmmyy
// 10,11 magnetic variation, E/W  12 mode indicator (NMEA 2.3)  13 navigational status (NMEA 4.10)
func decodeRMC(_ fields: NMEAFields) throws(NMEAFieldError) -> NMEASentence.Body {
    var variation = try fields.decimal(10)
    if let magnitude = variation, try fields.character(11) == 0x57 { variation = -magnitude }
    return .rmc(
        RMC(
            time: try fields.time(1), valid: try status(fields, 2), latitude: try latitude(fields, 3),
            longitude: try longitude(fields, 5), speedKnots: try fields.decimal(7), course: try fields.decimal(8),
            date: try fields.date(9), magneticVariation: variation, mode: try mode(fields, 12),
            navigationalStatus: try fields.character(13)))
}

// $GNGSA,A,3,23,09,16,07,26,03,27,22,,,,,1.71,1.01,1.38*1B
// $GNGSA,A,3,80,70,73,79,69,71,,,,,,,1.71,1.01,1.38,2*1D   (NMEA 4.10: system id last)
//  1 selection M manual / A automatic    2 fix type 1 none, 2 2D, 3 3D
//  3-14 satellites used (12 slots)       15 PDOP   16 HDOP   17 VDOP   18 system id (4.10)
func decodeGSA(_ fields: NMEAFields) throws(NMEAFieldError) -> NMEASentence.Body {
    var used = 0
    var first: Int?
    for index in 3...14 {
        if let satellite = try fields.integer(index) {
            used += 1
            if first == nil { first = satellite }
        }
    }
    let fixType = try fields.integer(2)
    if let fixType, !(1...3).contains(fixType) { throw NMEAFieldError(field: 2) }
    return .gsa(
        GSA(
            selection: try fields.character(1), fixType: fixType, satellitesUsed: used, firstSatellite: first,
            pdop: try fields.decimal(15), hdop: try fields.decimal(16), vdop: try fields.decimal(17),
            systemID: fields.count > 18 ? try fields.integer(18) : nil))
}

// $GPGSV,3,1,12,28,70,351,18,30,61,093,28,17,52,181,,13,50,290,,1*67
//  1 number of pages   2 this page   3 satellites in view
//  4-7, 8-11, 12-15, 16-19: satellite id, elevation, azimuth, SNR (up to four blocks)
//  last (NMEA 4.10, when the field count leaves one over): signal id
func decodeGSV(_ fields: NMEAFields) throws(NMEAFieldError) -> NMEASentence.Body {
    guard let pages = try fields.integer(1), pages > 0 else { throw NMEAFieldError(field: 1) }
    guard let page = try fields.integer(2), page > 0, page <= pages else { throw NMEAFieldError(field: 2) }
    let blocks = fields.count - 4
    var signal: Int?
    if blocks % 4 == 1 { signal = try fields.integer(fields.count - 1) }
    var satellites = 0
    var index = 4
    while index + 3 < fields.count {
        if try fields.integer(index) != nil { satellites += 1 }
        index += 4
    }
    return .gsv(
        GSV(
            messageCount: pages, messageNumber: page, satellitesInView: try fields.integer(3) ?? 0,
            satellitesInMessage: satellites, signalID: signal))
}

// $GPVTG,338.51,T,0.00,M,0.068,N,0.126,K,A*24
//  1,2 course true, T   3,4 course magnetic, M   5,6 speed knots, N   7,8 speed km/h, K   9 mode (2.3)
func decodeVTG(_ fields: NMEAFields) throws(NMEAFieldError) -> NMEASentence.Body {
    .vtg(
        VTG(
            courseTrue: try fields.decimal(1), courseMagnetic: try fields.decimal(3),
            speedKnots: try fields.decimal(5), speedKmh: try fields.decimal(7), mode: try mode(fields, 9)))
}

// $GPGLL,3757.92653,N,12231.94543,W,223251.00,A,A*7F
//  1,2 latitude, N/S   3,4 longitude, E/W   5 UTC time   6 status A/V   7 mode (2.3)
func decodeGLL(_ fields: NMEAFields) throws(NMEAFieldError) -> NMEASentence.Body {
    .gll(
        GLL(
            latitude: try latitude(fields, 1), longitude: try longitude(fields, 3), time: try fields.time(5),
            valid: try status(fields, 6), mode: try mode(fields, 7)))
}

// $GNGNS,122310.2,3722.425671,N,12258.856215,W,AAN,14,0.9,1005.543,6.5,,,V*0E
//  1 UTC time   2,3 latitude, N/S   4,5 longitude, E/W
//  6 mode, one character per constellation (GPS, GLONASS, Galileo, BeiDou, QZSS, NavIC): N A D P R F E M S
//  7 satellites used   8 HDOP   9 altitude MSL   10 geoid separation   11 DGPS age   12 DGPS station
// 13 navigational status (4.10)
func decodeGNS(_ fields: NMEAFields) throws(NMEAFieldError) -> NMEASentence.Body {
    var best = FixQuality.none
    for character in fields.bytes(6) {
        guard let quality = FixQuality(modeIndicator: character) else { throw NMEAFieldError(field: 6) }
        if best == .none { best = quality }
    }
    return .gns(
        GNS(
            time: try fields.time(1), latitude: try latitude(fields, 2), longitude: try longitude(fields, 4),
            quality: best, satellitesUsed: try fields.integer(7), hdop: try fields.decimal(8),
            altitudeMSL: try fields.decimal(9), geoidSeparation: try fields.decimal(10),
            navigationalStatus: try fields.character(13)))
}

// $GPZDA,223251.00,21,04,2016,-00,00*4C
//  1 UTC time   2 day   3 month   4 year (four digits)   5 local zone hours   6 local zone minutes
func decodeZDA(_ fields: NMEAFields) throws(NMEAFieldError) -> NMEASentence.Body {
    var date: UTCDate?
    if let day = try fields.integer(2), let month = try fields.integer(3), let year = try fields.integer(4) {
        guard (1...12).contains(month) else { throw NMEAFieldError(field: 3) }
        guard year >= 1980 else { throw NMEAFieldError(field: 4) }
        guard let valid = UTCDate.calendarValid(year: year, month: month, day: day) else {
            throw NMEAFieldError(field: 2)
        }
        date = valid
    }
    return .zda(ZDA(time: try fields.time(1), date: date))
}

// $GPTXT,01,01,02,u-blox ag - www.u-blox.com*50
//  1 number of messages   2 this message   3 text identifier (00 error … 02 notice)   4 text
func decodeTXT(_ fields: NMEAFields) throws(NMEAFieldError) -> NMEASentence.Body {
    // The text may itself hold commas: it runs from field 4 to the end of the sentence.
    let start = fields.count > 4 ? fields.offset(of: 4) : fields.endOffset
    return .txt(
        TXT(
            messageCount: try fields.integer(1), messageNumber: try fields.integer(2),
            identifier: try fields.integer(3), textRange: start..<fields.endOffset))
}

"""Settlement between business units: who owes whom for points issued in one format and spent in another.

Every point sits in a lot that remembers its issuing format, and every draw on a lot is a
``lot_consumption`` row against the posting that drew it. Settlement reads those rows for the
postings **booked** in a period (``posting.created_at`` from the first day's midnight to the
midnight after the last day, in the group's time zone ``settings.zone``), so a closed month never
changes when a till later records an activity dated in it. Each point that left a lot is one of:

- **redeemed** at format R (``redeem`` and ``offset`` postings of R; the captured part of a hold
  of R, when the capture is booked). Points drawn by a hold are not redeemed while it is open: they
  still count in the liability (``held``). A cancelled redemption is subtracted in the period of
  its cancellation, in full from the cell of the redemption's issuer and format; the part that
  came from lots expired meanwhile moves to **expired**.
- **clawed back** by format F's refund: the points a refund of an F activity took (from the
  activity's own lots, from the member's other lots, from ``group.expiry`` for points of the
  activity that had expired, points reclaimed when a hold or redemption gives a refunded sale's
  points back, and a refund debt repaid from later points under ``allow_negative``, attributed to
  the member's refunds first-in first-out). A clawback is not a redemption and is shown apart: it
  extinguishes the issuer's liability in favour of F, so when the points came from another
  issuer's lots (the member had already spent F's points elsewhere), that issuer owes F their
  value. Clawbacks of F's own points are on the diagonal: no money moves.
- **expired** (``expire`` postings, and held or cancelled points whose lot expired meanwhile):
  the issuer's liability ends, nobody is paid. A refund that takes points back from expiry moves
  them from expired to clawed back.
- **adjusted** by an admin debit (``group.adjustment``): the liability ends, nobody is paid.

Value. Each cell of the matrices is valued at its pair's transfer price
(:mod:`gateway.settlement.prices`) in force on the day its postings were **booked** (prices are
effective-dated; a pair whose price changed within the period has one cell per price):
``points × price`` minor units, rounded half up to a whole minor unit **per cell**, so the payables and receivables are sums of whole cells and add up
exactly. The issuer of an off-diagonal cell pays its value to the redeeming (or clawing back)
format; ``group`` is the issuer of admin credits and pays like a format. Net per format =
receivable − payable; the nets of all parties sum to zero.

Liability at an instant is every point still owed to members: what their lots hold, **pending
points included**, plus points reserved by holds still open then, by issuing format and by the
month of each lot's last valid day (group time zone). It is recomputed from the rows booked before
the instant, so a past month's report stays right. For each issuer: opening liability + issued −
redeemed − clawed back − expired − adjusted = closing liability (``other``, for posting kinds this
module does not know, keeps the equation whole and should stay zero).

Closing (:mod:`gateway.settlement.closing`). An admin closes a period once it is over: its
figures are stored for good and read back from then on; closed periods never overlap, and no
transfer price can be dated into them. :mod:`gateway.settlement.drift` recomputes closed periods
and names every figure that no longer matches (the ledger changed behind the gateway).
Point aggregates may pass 2^31: GraphQL serves them as ``BigInt`` (:mod:`gateway.graphql.scalars`).
"""

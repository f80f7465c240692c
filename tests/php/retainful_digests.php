<?php
/*
 * Digest vectors made the Retainful WooCommerce plugin's way, written from the documented algorithm (docs:
 * /work/shared/reference/retainful-plugin-protocol.md, "Pitfalls"); the plugin's own code is not copied here.
 * CouponManagement::createRestCoupon: the request body is decoded by WordPress (json_decode), then
 * {value_type, value, coupon_code} is re-encoded with JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES and HMAC'd.
 * Imports::getSyncOrders: {limit, since_id, status} (int, int, string) re-encoded with plain json_encode and HMAC'd.
 * Usage: php retainful_digests.php CASES.json > VECTORS.json
 */

function coupon_digest($body, $secret) {  // the plugin: CouponManagement::createRestCoupon
    $params = json_decode($body, true);  // WP_REST_Request::get_json_params
    $rule = $params['discount_rule'];
    $to_hash = array(
        'value_type' => isset($rule['value_type']) ? $rule['value_type'] : '',
        'value' => isset($rule['value']) ? $rule['value'] : '',
        'coupon_code' => isset($rule['coupon_code']) ? $rule['coupon_code'] : '',
    );
    $signed = json_encode($to_hash, JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES);
    return array($signed, hash_hmac('sha256', $signed, $secret));
}

function orders_digest($limit, $since_id, $secret) {  // the plugin: Imports::getSyncOrders / hashVerification
    $signed = json_encode(array('limit' => (int)$limit, 'since_id' => (int)$since_id, 'status' => 'any'));
    return array($signed, hash_hmac('sha256', $signed, $secret));
}

$cases = json_decode(file_get_contents($argv[1]), true);
$vectors = array('coupons' => array(), 'orders' => array());
foreach ($cases['coupon_bodies'] as $body) {
    list($signed, $digest) = coupon_digest($body, $cases['secret']);
    $vectors['coupons'][] = array('body' => $body, 'signed' => $signed, 'digest' => $digest);
}
foreach ($cases['order_pages'] as $page) {
    list($signed, $digest) = orders_digest($page['limit'], $page['since_id'], $cases['secret']);
    $vectors['orders'][] = array('limit' => $page['limit'], 'since_id' => $page['since_id'], 'signed' => $signed,
                                 'digest' => $digest);
}
echo json_encode($vectors, JSON_PRETTY_PRINT | JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE), "\n";
